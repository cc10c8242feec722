"""Server-Sent Events framing for `/stream` (encoding by `sse-starlette`'s `ServerSentEvent`).

Text is split into one `data:` line per line (the SSE way to carry newlines) and every line
gets the single space after `data:` that clients strip, so leading spaces survive. An event
that can't be encoded as UTF-8 (text with an unpaired surrogate) raises `UnicodeEncodeError`
and uses up no id; `error_event` always encodes.
"""

from __future__ import annotations

import json
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


class EventEncoder:
    """Encodes a stream's events with increasing ids (1, 2, 3, ...)."""

    def __init__(self) -> None:
        self._next_id = 0

    def text(self, event: str, text: str) -> bytes:
        """An event whose data is raw text (multi-line safe)."""
        encoded = ServerSentEvent(text, event=event, id=str(self._next_id + 1), sep="\n").encode()
        self._next_id += 1
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
