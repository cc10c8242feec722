"""SSE framing: what `EventEncoder` writes, a standard parser reads back as sent."""

from __future__ import annotations

import io

from sseclient import SSEClient

from api.sse import KEEPALIVE, EventEncoder


def _parse(raw: bytes) -> list[tuple[str, str, str]]:
    return [(e.event, e.data, e.id) for e in SSEClient(io.BytesIO(raw)).events()]


def test_text_survives_the_round_trip() -> None:
    encoder = EventEncoder()
    texts = [" leading", "two\nlines", "\n", "trailing\n\n", "tab\tand 🚀"]
    raw = b"".join(encoder.text("data", t) for t in texts) + KEEPALIVE
    parsed = _parse(raw)
    assert [p[1] for p in parsed] == texts
    assert [p[2] for p in parsed] == ["1", "2", "3", "4", "5"]


def test_json_events_are_one_line() -> None:
    raw = EventEncoder().json("metadata", {"run_id": "r", "text": "a\nb"})
    assert raw.count(b"data:") == 1
    assert _parse(raw) == [("metadata", '{"run_id":"r","text":"a\\nb"}', "1")]
