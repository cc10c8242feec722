"""What went wrong with a model call, in words an operator can act on.

`classify` turns an exception raised during a turn into a `ModelFailure`: its kind (the service
was unreachable, too slow, rate limited, refused the credentials, has no such deployment,
blocked the content, or refused the request) and a plain message that names the setting or role
to check. It recognises the OpenAI SDK's errors by class (langchain-openai re-raises them as its
own subclasses), the HTTP client's transport errors (a stream cut mid-way), and
`ContentFilteredError`, which the agent raises when a streamed answer ends with
`finish_reason: content_filter`. Nothing here knows HTTP statuses; `api.problems` maps kinds to
them. Messages never carry the upstream body, a key or a stack trace.
"""

from __future__ import annotations

import email.utils
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agent.settings import Settings

DEFAULT_RETRY_AFTER_SECONDS = 10.0
# What of a refusal may reach a client: error codes from this list, and parameter names of the
# requests the app sends; nothing else the service wrote (it may echo anything, keys included).
KNOWN_CODES = frozenset({
    "invalid_request_error", "unsupported_parameter", "unsupported_value", "invalid_value",
    "invalid_type", "missing_required_parameter", "context_length_exceeded",
    "string_above_max_length", "array_above_max_length", "integer_above_max_value",
    "invalid_prompt", "OperationNotSupported", "model_not_supported", "BadRequest",
})
REQUEST_PARAMETERS = frozenset({
    "messages", "model", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p",
    "max_tokens", "max_completion_tokens", "reasoning_effort", "stream", "stream_options",
    "response_format", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
    "logit_bias", "n", "stop", "seed", "user", "prompt_cache_key", "service_tier", "store",
    "metadata", "modalities", "audio", "prediction", "verbosity", "web_search_options",
})
_PARAMETER = re.compile(r"[a-z_]{1,40}")
_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
ROLE = "Cognitive Services OpenAI User"


class FailureKind(StrEnum):
    """The kinds of model failure a client and an operator must tell apart."""

    UNREACHABLE = "unreachable"  # connection refused or cut, or a 5xx after the SDK's retries
    UNREADABLE = "unreadable"  # a 200 whose body is not a chat-completions reply
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"  # 429 after the SDK's retries
    CONTENT_FILTERED = "content_filtered"  # the service's content policy blocked it
    AUTH = "auth"  # 401 / 403, or no Entra ID token
    NOT_FOUND = "not_found"  # no such deployment or model
    REJECTED = "rejected"  # any other 4xx: the request does not fit the deployment


@dataclass(frozen=True)
class ModelFailure:
    """A classified failure: its kind, a message safe to show, and when to retry."""

    kind: FailureKind
    message: str
    retry_after: float | None = None


class MalformedReply(RuntimeError):
    """The model service answered, but not with a chat-completions reply we can read."""

    def __init__(self, what: str) -> None:
        super().__init__(f"The model service's reply could not be read ({what}).")


class ContentFilteredError(RuntimeError):
    """The model's answer was stopped by the service's content filter."""

    def __init__(self) -> None:
        super().__init__("The content policy of the model service stopped the answer.")


def raise_if_filtered(message: Any) -> None:
    """Raise `ContentFilteredError` if a model reply ended with `finish_reason: content_filter`
    (Azure OpenAI stops a stream that way; the reply must not look complete)."""
    metadata = getattr(message, "response_metadata", None) or {}
    if metadata.get("finish_reason") == "content_filter":
        raise ContentFilteredError


def classify(exc: BaseException, settings: Settings) -> ModelFailure | None:
    """The model failure `exc` stands for, or None if it is not one."""
    if isinstance(exc, ContentFilteredError):
        return ModelFailure(FailureKind.CONTENT_FILTERED, str(exc))
    if isinstance(exc, MalformedReply):
        return ModelFailure(FailureKind.UNREADABLE, (
            f"{exc} Try again shortly; if it persists, check {_endpoint_setting(settings)}: it "
            "must be an OpenAI-compatible chat-completions service."))
    openai = sys.modules.get("openai")
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):
            mislabelled = _not_a_timeout(exc)
            if mislabelled:
                return _unreachable(settings, mislabelled)
            return _timeout(settings)
        if isinstance(exc, openai.APIConnectionError):
            return _unreachable(settings, _connection_failure(exc))
        if isinstance(exc, openai.APIStatusError):
            return _from_status(exc, settings)
    if _is_transport_error(exc):
        if "Timeout" in type(exc).__name__:
            return _timeout(settings)
        return _unreachable(settings, "the connection was cut")
    if type(exc).__name__ in {"ClientAuthenticationError", "CredentialUnavailableError"}:
        return ModelFailure(FailureKind.AUTH, (
            "The app could not get a Microsoft Entra ID token for a backing service. In Azure, "
            "check the managed identity (AZURE_CLIENT_ID); locally, run `az login`."))
    if isinstance(exc, TimeoutError):
        return _timeout(settings)
    return None


def _causes(exc: BaseException) -> Iterator[str]:
    """The class names of `exc` and of the errors it was raised from, outermost first."""
    cause: BaseException | None = exc
    while cause is not None:
        yield type(cause).__name__
        cause = cause.__cause__ or cause.__context__


def _connection_failure(exc: BaseException) -> str:
    """What went wrong with the connection, from the transport error the SDK wrapped."""
    for name in _causes(exc):
        if name in {"ConnectError", "ConnectTimeout"}:
            return "no connection"
        if name in {"RemoteProtocolError", "ReadError", "WriteError"}:
            return "the connection was cut"
    return "a connection error"


def _not_a_timeout(exc: BaseException) -> str | None:
    """What really happened when the SDK's aiohttp adapter reports a connect timeout: it maps
    every aiohttp `ClientConnectionError` to `ConnectTimeout`, so a refused connection
    (`ClientConnectorError`) and one the service closed or reset before answering (e.g. an idle
    keep-alive connection closed as the request was sent: `ServerDisconnectedError`,
    `ClientOSError`) arrive as timeouts too. None: a timeout indeed."""
    for name in _causes(exc):
        if name in {"ClientConnectorError", "ClientConnectorDNSError"}:
            return "no connection"
        if name in {"ServerDisconnectedError", "ClientOSError"}:
            return "the connection was cut"
    return None


def _is_transport_error(exc: BaseException) -> bool:
    """An error of the HTTP client itself (httpx, or the OpenAI SDK's copy of it)."""
    for name in ("httpx", "httpx2"):
        module = sys.modules.get(name)
        if module is not None and isinstance(exc, module.TransportError):
            return True
    return False


def _endpoint_setting(settings: Settings) -> str:
    return "AZURE_OPENAI_ENDPOINT" if settings.provider == "azure" else "OPENAI_BASE_URL"


def _unreachable(settings: Settings, what: str) -> ModelFailure:
    return ModelFailure(FailureKind.UNREACHABLE, (
        f"The model service could not answer ({what}). Try again shortly; if it persists, "
        f"check {_endpoint_setting(settings)} and the service's health."))


def _timeout(settings: Settings) -> ModelFailure:
    return ModelFailure(FailureKind.TIMEOUT, (
        "The model service did not answer within MODEL_TIMEOUT_SECONDS "
        f"({settings.model_timeout_seconds:g} s). Try again, or ask a shorter question."))


def _from_status(exc: Any, settings: Settings) -> ModelFailure:
    status = int(exc.status_code)
    code = str(getattr(exc, "code", None) or "")
    azure = settings.provider == "azure"
    if status == 429:
        wait = retry_after_seconds(getattr(exc, "response", None))
        return ModelFailure(FailureKind.RATE_LIMITED, (
            f"The model service is busy (rate limited). Try again in {wait:g} s."), wait)
    if status >= 500:
        return _unreachable(settings, f"HTTP {status}")
    if status == 401:
        check = ("AZURE_OPENAI_API_KEY, or unset it so the app uses its managed identity"
                 if azure and settings.azure_openai_api_key is not None
                 else f"that the app's identity has the '{ROLE}' role on the Azure OpenAI "
                 "account" if azure else "OPENAI_API_KEY")
        return ModelFailure(FailureKind.AUTH, (
            f"The model service refused the app's credentials (401). Check {check}."))
    if status == 403:
        check = (f"grant the app's identity the '{ROLE}' role on the Azure OpenAI account "
                 "(role assignments take a few minutes to apply)" if azure
                 else "check OPENAI_API_KEY and its permissions")
        return ModelFailure(FailureKind.AUTH, (
            f"The model service denied access (403): {check}."))
    if status == 404:
        setting = ("AZURE_OPENAI_CHAT_DEPLOYMENT" if azure else "OPENAI_MODEL")
        name = (settings.azure_openai_chat_deployment if azure else settings.openai_model)
        return ModelFailure(FailureKind.NOT_FOUND, (
            f"The model service has no deployment or model named {name!r} (404). Check "
            f"{setting} (and {_endpoint_setting(settings)})."))
    if status == 400 and _is_content_filter(code, getattr(exc, "body", None)):
        return ModelFailure(FailureKind.CONTENT_FILTERED, (
            "The content policy of the model service blocked this request. Rephrase the "
            "question."))
    detail = ", ".join(p for p in (_known_code(exc), _own_parameter(exc)) if p)
    return ModelFailure(FailureKind.REJECTED, (
        f"The model service refused the request (HTTP {status}{': ' + detail if detail else ''})"
        ". Check that the MODEL_* settings fit the deployment (see the README's model "
        "settings)."))


def _known_code(exc: Any) -> str:
    """The error's `code` if it is one we know (never free text from the service)."""
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) and code in KNOWN_CODES else ""


def _own_parameter(exc: Any) -> str:
    """The request parameter the error names, if it is one of our request's own parameters
    (`messages[3].content` is reported as `messages`)."""
    param = getattr(exc, "param", None)
    match = _PARAMETER.match(param) if isinstance(param, str) else None
    name = match.group(0) if match else ""
    return f"parameter {name!r}" if name in REQUEST_PARAMETERS else ""


def request_id(exc: BaseException) -> str:
    """The service's request id from a failed call's response headers, if it looks like one
    (for finding the call in the service's logs); else empty."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return ""
    for name in ("x-request-id", "apim-request-id", "x-ms-request-id"):
        value = headers.get(name)
        if isinstance(value, str) and _REQUEST_ID.fullmatch(value):
            return value
    return ""


def _is_content_filter(code: str, body: Any) -> bool:
    if code == "content_filter":
        return True
    inner = body.get("innererror") if isinstance(body, dict) else None
    return isinstance(inner, dict) and inner.get("code") == "ResponsibleAIPolicyViolation"


def retry_after_seconds(response: Any) -> float:
    """Seconds to wait, from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    headers = getattr(response, "headers", None) or {}
    try:
        millis = headers.get("retry-after-ms")
        if millis:
            return max(float(millis) / 1000, 1.0)
        value = headers.get("retry-after")
        if value:
            if value.strip().isdigit():
                return max(float(value), 1.0)
            when = email.utils.parsedate_to_datetime(value)
            return max(when.timestamp() - time.time(), 1.0)
    except (TypeError, ValueError, OverflowError):
        pass
    return DEFAULT_RETRY_AFTER_SECONDS
