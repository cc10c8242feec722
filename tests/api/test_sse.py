"""SSE framing: what `EventEncoder` writes, a standard parser reads back as sent."""

from __future__ import annotations

import io
import json

import pytest
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


def test_an_event_that_cannot_be_encoded_raises_and_uses_no_id() -> None:
    encoder = EventEncoder()
    encoder.text("data", "first")
    with pytest.raises(UnicodeEncodeError):
        encoder.text("data", "lone \ud800 surrogate")
    with pytest.raises(UnicodeEncodeError):
        encoder.json("on_tool_end", {"output": "\udcff"})
    assert _parse(encoder.text("end", "next")) == [("end", "next", "2")]


def test_the_error_event_always_encodes() -> None:
    raw = EventEncoder().error_event(500, "bad \ud800 text and ünïcode", "r")
    assert raw.isascii()
    parsed = _parse(raw)
    assert parsed[0][0] == "error" and parsed[0][2] == "1"
    assert json.loads(parsed[0][1]) == {"status_code": 500,
                                        "message": "bad \ud800 text and ünïcode", "run_id": "r"}
