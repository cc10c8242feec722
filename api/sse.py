"""Server-Sent Events framing for `/stream` (encoding by `sse-starlette`'s `ServerSentEvent`).

Text is split into one `data:` line per line (the SSE way to carry newlines) and every line
gets the single space after `data:` that clients strip, so leading spaces survive. An event
that can't be encoded as UTF-8 (text with an unpaired surrogate) raises `UnicodeEncodeError`
and uses up no id; `error_event` always encodes. `KeepAlive` puts a keep-alive on a stream's
queue whenever nothing went out for a while.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from sse_starlette.event import ServerSentEvent

SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
    "Content-Encoding": "identity",
}
SSE_MEDIA_TYPE = "text/event-stream"
KEEPALIVE = ServerSentEvent(comment="keep-alive", sep="\n").encode()


# Told each event encoded: its id, name and data (a run's recorder keeps them to replay).
EventSink = Callable[[int, str, str], None]


def frame(event_id: int, event: str, data: str) -> bytes:
    """One SSE event (multi-line data safe); `UnicodeEncodeError` for text that isn't valid
    Unicode."""
    return ServerSentEvent(data, event=event, id=str(event_id), sep="\n").encode()


def error_data(status_code: int, message: str, run_id: str,
               retry_after: int | None = None) -> str:
    """The data of an `error` event: pure ASCII JSON, so it encodes whatever the message
    holds."""
    payload: dict[str, object] = {"status_code": status_code, "message": message,
                                  "run_id": run_id}
    if retry_after is not None:
        payload["retry_after"] = retry_after
    return json.dumps(payload, separators=(",", ":"))


class KeepAlive:
    """Puts `item` (the keep-alive comment) on the queue whenever nothing went out for
    `seconds` (the consumer sets `last` when something does): one timer that re-arms itself,
    rather than a timeout around every wait for the next event."""

    def __init__(self, queue: asyncio.Queue[object], seconds: float,
                 item: object = KEEPALIVE) -> None:
        self._queue, self._seconds, self._item = queue, seconds, item
        self._loop = asyncio.get_running_loop()
        self.last = self._loop.time()
        self._timer = self._loop.call_later(seconds, self._tick)

    def _tick(self) -> None:
        now = self._loop.time()
        if now - self.last >= self._seconds:
            self._queue.put_nowait(self._item)
            self.last = now
        self._timer = self._loop.call_at(self.last + self._seconds, self._tick)

    def sent(self) -> None:
        """Something went out just now."""
        self.last = self._loop.time()

    def cancel(self) -> None:
        self._timer.cancel()


class EventEncoder:
    """Encodes a stream's events with increasing ids (1, 2, 3, ...); `on_event` is told of each
    one encoded."""

    def __init__(self, on_event: EventSink | None = None) -> None:
        self._next_id = 0
        self._on_event = on_event

    def text(self, event: str, text: str) -> bytes:
        """An event whose data is raw text (multi-line safe)."""
        encoded = frame(self._next_id + 1, event, text)
        self._next_id += 1
        if self._on_event is not None:
            self._on_event(self._next_id, event, text)
        return encoded

    def json(self, event: str, payload: dict[str, Any]) -> bytes:
        """An event whose data is one line of JSON."""
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return self.text(event, data)

    def error_event(self, status_code: int, message: str, run_id: str,
                    retry_after: int | None = None) -> bytes:
        """The `error` event (`error_data`), whatever the message holds."""
        return self.text("error", error_data(status_code, message, run_id, retry_after))
