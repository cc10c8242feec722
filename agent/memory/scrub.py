"""Failures as the thread stores keep them: the class name and a fixed message, nothing else.

When a task fails, LangGraph saves the exception as a pending write on its `__error__` channel
(so a resumed run knows the task failed). An exception's text can hold anything its raiser put
there: a model service's error body, which may quote the request's `Authorization: Bearer
<key>`, a URL with a signature, the user's question. Both savers pass a task's writes through
`scrub_writes` first, so what is stored is `RuntimeError("<ClassName>: <message>")` where the
message comes from a short allow-list chosen by what the exception *is* (an HTTP status code, a
timeout, a connection failure, one of our own failures), never from what it *says*. The full
exception still goes to the server log and to the caller, where the HTTP layer describes it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from langgraph.checkpoint.serde.types import ERROR

_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,79}")
RUN_FAILED = "the run failed"
# Our own failures and LangGraph's, by class name: what each means, in fixed words.
_KNOWN: dict[str, str] = {
    "ContentFilteredError": "the content policy of the model service stopped the answer",
    "CheckpointTooLargeError": "the thread's state is over CHECKPOINT_MAX_BYTES",
    "GraphRecursionError": "the run reached its step limit",
    "ThreadBusy": "the thread was busy with another turn",
    "CancelledError": "the run was cancelled",
}


def _class_name(exc: object) -> str:
    name = type(exc).__name__
    return name if _CLASS_NAME.fullmatch(name) else "Exception"


def safe_message(exc: BaseException) -> str:
    """What happened, from the allow-list: never text taken from the exception."""
    name = _class_name(exc)
    if name in _KNOWN:
        return _KNOWN[name]
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return f"a service answered HTTP {status}"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError) or "Timeout" in name:
        return "a call timed out"
    if isinstance(exc, ConnectionError) or "Connection" in name or "Connect" in name:
        return "a connection failed"
    return RUN_FAILED


def scrubbed(exc: BaseException) -> RuntimeError:
    """The stored stand-in for a failure saved on the error channel."""
    return RuntimeError(f"{_class_name(exc)}: {safe_message(exc)}")


def scrub_writes(writes: Sequence[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A task's writes with every exception on the error channel replaced by its `scrubbed`
    form (LangGraph saves the exception itself; any other value was written on purpose by the
    caller, and is kept as it is, as LangGraph's savers do)."""
    return [(channel, scrubbed(value)
             if channel == ERROR and isinstance(value, BaseException) else value)
            for channel, value in writes]
