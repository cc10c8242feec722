"""Reading `/stream` the way clients do: `sseclient-py` events plus the raw bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from sseclient import SSEClient


@dataclass
class Event:
    """One SSE event as a standard client sees it."""

    event: str
    data: str
    id: str

    def json(self) -> Any:
        """The data parsed as JSON."""
        return json.loads(self.data)


def stream(url: str, payload: dict[str, Any], timeout: float = 60,
           headers: dict[str, str] | None = None) -> tuple[requests.Response, list[Event]]:
    """POST to a `/stream` URL and read every event with sseclient-py."""
    with requests.post(url, json=payload, stream=True, timeout=timeout,
                       headers=headers) as resp:
        resp.raise_for_status()
        events = [Event(e.event, e.data, e.id) for e in SSEClient(resp).events()]
    return resp, events


def by_type(events: list[Event], name: str) -> list[Event]:
    """The events of one type, in order."""
    return [e for e in events if e.event == name]
