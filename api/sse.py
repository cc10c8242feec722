"""Server-Sent Events framing for `/stream` (encoding by `sse-starlette`'s `ServerSentEvent`).

Text is split into one `data:` line per line (the SSE way to carry newlines) and every line
gets the single space after `data:` that clients strip, so leading spaces survive. An event
that can't be encoded as UTF-8 (text with an unpaired surrogate) raises `UnicodeEncodeError`
and uses up no id; `error_event` always encodes.
"""

from __future__ import annotations

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
        """The `error` event; pure ASCII JSON, so it encodes whatever the message holds."""
        payload: dict[str, object] = {"status_code": status_code, "message": message,
                                      "run_id": run_id}
        if retry_after is not None:
            payload["retry_after"] = retry_after
        return self.text("error", json.dumps(payload, separators=(",", ":")))
