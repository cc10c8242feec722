"""Safe, client-facing descriptions of run failures (details and secrets stay in the log)."""

from __future__ import annotations


def describe_failure(exc: BaseException) -> tuple[int, str]:
    """An HTTP status and a message that reveals no internals."""
    name = type(exc).__name__
    module = type(exc).__module__
    status = getattr(exc, "status_code", None)
    if name in {"RateLimitError"} or status == 429:
        return 429, "The model service is busy (rate limited). Try again shortly."
    if "Timeout" in name or isinstance(exc, TimeoutError):
        return 504, "The model or a tool did not answer in time."
    if name in {"AuthenticationError", "PermissionDeniedError", "ClientAuthenticationError",
                "CredentialUnavailableError"}:
        return 502, "The server could not authenticate to a backing service; see the server log."
    if module.startswith(("openai", "httpx", "azure")):
        return 502, f"A backing service failed ({name}); see the server log."
    return 500, f"The run failed ({name}); see the server log."
