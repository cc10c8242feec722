"""What a client is told when a request fails: a `Problem` (HTTP status, plain detail, the
fields at fault, headers), and `problem_of`, which turns any failure into one.

Every handler raises `Problem` for bad input, and every failure of a run is mapped here once,
the same way for `/invoke`, each `/batch` item, the `/stream` `error` event and the other
protocols, which render a `Problem` in their own error shape:

| what happened                                     | status |
|---------------------------------------------------|--------|
| bad input (each rule names its field)             | 400, 401, 413, 415, 422 |
| the thread is another user's, or none             | 404    |
| a decision on a paused call: no such waiting call | 404    |
| ... that call was decided already                 | 409    |
| ... edited arguments the tool refuses             | 422    |
| another turn holds the thread (THREAD_BUSY)       | 409 + `Retry-After` |
| no answer within REQUEST_DEADLINE_SECONDS         | 504    |
| model service unreachable, cut, 5xx, garbled reply | 502   |
| model service too slow (MODEL_TIMEOUT_SECONDS)     | 504    |
| rate limited after the SDK's retries              | 429 + `Retry-After` |
| content policy blocked the question or answer     | 400    |
| credentials refused (401/403), no Entra token     | 502 naming the setting or role |
| no such deployment (404)                          | 502 naming AZURE_OPENAI_CHAT_DEPLOYMENT |
| any other refusal of the request                  | 502    |
| an Azure SDK (Cosmos DB, AI Search) failure       | 502    |

Anything else is a 500 that names only the error's class. Nothing an upstream service said
(its error text) reaches the client or the log: a classified failure is logged by its kind,
class and request id, and only our own exceptions are logged with their traceback.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.approvals import DecisionError  # light, as the two below
from agent.memory.leases import ThreadBusy  # light: no store SDK is imported
from agent.models.failures import FailureKind, classify, request_id
from agent.ownership import ThreadNotFound
from agent.settings import get_settings
from agent.turns import AnswerNotFound, NothingToRegenerate
from api.schemas import ErrorItem, ErrorResponse

log = logging.getLogger(__name__)
Handler = Callable[[Request], Awaitable[Response]]

STATUS: dict[FailureKind, int] = {
    FailureKind.UNREACHABLE: 502,
    FailureKind.UNREADABLE: 502,
    FailureKind.TIMEOUT: 504,
    FailureKind.RATE_LIMITED: 429,
    FailureKind.CONTENT_FILTERED: 400,
    FailureKind.AUTH: 502,
    FailureKind.NOT_FOUND: 502,
    FailureKind.REJECTED: 502,
}
# Packages whose exceptions carry what a service said: logged without their message.
UPSTREAM_PACKAGES = ("openai", "azure", "httpx", "aiohttp", "langchain_openai")


def printable(text: str) -> str:
    """`text` with anything UTF-8 can't carry (lone surrogates) written as `\\udXXX`."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Problem(Exception):
    """A failed request: what the client is told. Raise it from a handler; each protocol
    renders it in its own error shape (`response()` is the API's own: `detail`, `errors`)."""

    def __init__(self, status: int, detail: str, errors: Sequence[ErrorItem] = (),
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = printable(detail)
        self.errors = [ErrorItem(field=printable(e.field), message=printable(e.message))
                       for e in errors]
        self.headers = dict(headers or {})

    @property
    def field(self) -> str | None:
        """The request field at fault, when one is named."""
        return self.errors[0].field if self.errors else None

    @property
    def retry_after(self) -> int | None:
        """Seconds after which a retry may succeed, if the failure says so."""
        value = self.headers.get("Retry-After")
        return int(value) if value else None

    def body(self) -> ErrorResponse:
        """The API's error body."""
        return ErrorResponse(detail=self.detail, errors=self.errors)

    def response(self) -> JSONResponse:
        """The API's JSON error response."""
        return JSONResponse(self.body().model_dump(), status_code=self.status,
                            headers=self.headers or None)


def answers_problems(
    render: Callable[[Problem], Response] = Problem.response,
) -> Callable[[Handler], Handler]:
    """A handler whose `Problem`s are answered with `render(problem)` (by default the API's
    own error shape; each protocol passes its own)."""
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def answered(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as problem:
                return render(problem)

        return answered

    return decorate


def field_problem(status: int, field: str, message: str) -> Problem:
    """A problem with one field: `detail` says `field: message`, `errors` names it."""
    return Problem(status, f"{field}: {message}", [ErrorItem(field=field, message=message)])


def busy(exc: ThreadBusy) -> Problem:
    """409: another turn holds the thread; try again after `Retry-After`."""
    return Problem(409, str(exc), headers={"Retry-After": str(exc.retry_after)})


class DeadlinePassed(Problem):
    """504: the request's deadline (REQUEST_DEADLINE_SECONDS) passed before the answer."""


def deadline_passed() -> DeadlinePassed:
    """504: the request's own deadline (REQUEST_DEADLINE_SECONDS) passed."""
    seconds = get_settings().request_deadline_seconds
    return DeadlinePassed(504, f"No answer within REQUEST_DEADLINE_SECONDS ({seconds:g} s), "
                               "the longest a request may take here. Use /stream for long answers.")


def problem_of(exc: BaseException, context: str) -> Problem:
    """What to tell the client about `exc`, which ended `context` (e.g. "run <id>"); logs
    what an operator needs, never what an upstream service said."""
    if isinstance(exc, Problem):
        return exc
    if isinstance(exc, ThreadBusy):
        return busy(exc)
    if isinstance(exc, ThreadNotFound | NothingToRegenerate | AnswerNotFound):
        return Problem(404, str(exc))
    if isinstance(exc, DecisionError):
        fields = [ErrorItem(field=exc.field, message=str(exc))] if exc.field else []
        return Problem(exc.status, str(exc), fields)
    failure = classify(exc, get_settings())
    if failure is not None:
        log.warning("%s failed: the model service %s (%s%s)", context, failure.kind.value,
                    type(exc).__name__, _request_note(exc))
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(failure.retry_after))
        return Problem(STATUS[failure.kind], failure.message, headers=headers)
    name = type(exc).__name__
    if type(exc).__module__.split(".")[0] in UPSTREAM_PACKAGES:
        log.error("%s failed: %s from a backing service%s", context, name, _request_note(exc))
        return Problem(502, f"A backing service failed ({name}); see the server log.")
    log.error("%s failed", context, exc_info=exc)
    return Problem(500, f"The run failed ({name}); see the server log.")


def _request_note(exc: BaseException) -> str:
    """The service's request id and status, for finding the call in its logs."""
    status = getattr(exc, "status_code", None)
    rid = request_id(exc)
    parts = [f"HTTP {status}" if isinstance(status, int) else "", f"request id {rid}" if rid
             else ""]
    text = ", ".join(p for p in parts if p)
    return f", {text}" if text else ""
