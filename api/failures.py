"""Client-facing answers to run failures: an HTTP status, a plain message, and headers.

Model failures are classified by `agent.models.failures` and mapped here, the same way for
`/invoke`, each `/batch` item and the `/stream` `error` event:

| what happened                                   | status |
|-------------------------------------------------|--------|
| model service unreachable, connection cut, 5xx  | 502    |
| model service too slow (MODEL_TIMEOUT_SECONDS)   | 504    |
| rate limited after the SDK's retries            | 429 + `Retry-After` |
| content policy blocked the question or answer   | 400    |
| credentials refused (401/403), no Entra token   | 502 naming the setting or role |
| no such deployment (404)                        | 502 naming AZURE_OPENAI_CHAT_DEPLOYMENT |
| any other refusal of the request                | 502    |
| the thread is another user's (AUTH_MODE=easyauth) | 404  |

Anything else is a 500 that names only the error's class. Details and stack traces go to the
server log, never to the client.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agent.models.failures import FailureKind, classify
from agent.ownership import ThreadNotFound
from agent.settings import get_settings

STATUS: dict[FailureKind, int] = {
    FailureKind.UNREACHABLE: 502,
    FailureKind.TIMEOUT: 504,
    FailureKind.RATE_LIMITED: 429,
    FailureKind.CONTENT_FILTERED: 400,
    FailureKind.AUTH: 502,
    FailureKind.NOT_FOUND: 502,
    FailureKind.REJECTED: 502,
}


@dataclass(frozen=True)
class Failure:
    """What the client is told about a failed run."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def retry_after(self) -> int | None:
        """Seconds after which a retry may succeed, if the failure says so."""
        value = self.headers.get("Retry-After")
        return int(value) if value else None


def describe_failure(exc: BaseException) -> Failure:
    """The status, message and headers for a failed run; reveals no internals."""
    if isinstance(exc, ThreadNotFound):  # another user's thread (AUTH_MODE=easyauth)
        return Failure(404, str(exc))
    model_failure = classify(exc, get_settings())
    if model_failure is not None:
        headers = {}
        if model_failure.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(model_failure.retry_after))
        return Failure(STATUS[model_failure.kind], model_failure.message, headers)
    module = type(exc).__module__
    name = type(exc).__name__
    if module.startswith("azure"):
        return Failure(502, f"A backing service failed ({name}); see the server log.")
    return Failure(500, f"The run failed ({name}); see the server log.")
