"""Item 7's two clients of one run: one on the instance that runs it, one following it elsewhere.

`joined_turn(a_url, b_url, question)` POSTs `/stream` with `on_disconnect: continue` to server A
and, as soon as A's `metadata` event names the run, joins it on server B
(`GET /threads/{t}/runs/{r}/stream`, no `Last-Event-ID`: from the first event). B serves it from
the thread store, which A writes. A 404 (A's first write not stored yet) is retried every 10 ms.
Both clients run on one event loop in one process, so one clock times every event on both.

An event's *added latency* is when B received it minus when A did, for every event A received
after B's stream opened (the ones before it reach B as a replay, not live). Also checked: B got
every event A did, with the same ids, names and data, in order, exactly once.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse

TIMEOUT = httpx.Timeout(120.0, connect=30.0)
RETRY_SECONDS = 0.01
JOIN_DEADLINE_SECONDS = 10.0


@dataclass
class Received:
    """One client's view of the run: (id, event, data) in order, and when each arrived."""

    events: list[tuple[int, str, str]] = field(default_factory=list)
    times: dict[int, float] = field(default_factory=dict)
    status: int = 0

    async def read(self, source: Any) -> None:
        async for sse in source.aiter_sse():
            now = time.perf_counter()
            event_id = int(sse.id)
            self.events.append((event_id, sse.event, sse.data))
            self.times.setdefault(event_id, now)
            if sse.event in ("end", "error"):
                return


async def _join(client: httpx.AsyncClient, url: str, out: Received) -> tuple[float, int]:
    """Follow the run on `url` into `out`; when its stream opened, and 404s retried."""
    retries = 0
    deadline = time.perf_counter() + JOIN_DEADLINE_SECONDS
    while True:
        async with aconnect_sse(client, "GET", url) as source:
            out.status = source.response.status_code
            if out.status == 200:
                opened = time.perf_counter()
                await out.read(source)
                return opened, retries
        if out.status != 404 or time.perf_counter() > deadline:
            raise RuntimeError(f"joining {url}: HTTP {out.status}")
        retries += 1
        await asyncio.sleep(RETRY_SECONDS)  # the run's first write is on its way


async def joined_turn(a_url: str, b_url: str, question: str) -> dict[str, Any]:
    """One run on A followed on B (see the module docstring): per-event latencies and checks."""
    a, b = Received(), Received()
    body = {"user_input": question, "thread_id": f"bench-{uuid.uuid4().hex[:12]}",
            "on_disconnect": "continue"}
    joiner: asyncio.Task[tuple[float, int]] | None = None
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        async with aconnect_sse(client, "POST", a_url + "/stream", json=body) as source:
            a.status = source.response.status_code
            if a.status != 200:
                raise RuntimeError(f"/stream on A: HTTP {a.status}")
            async for sse in source.aiter_sse():
                now = time.perf_counter()
                a.events.append((int(sse.id), sse.event, sse.data))
                a.times[int(sse.id)] = now
                if joiner is None:  # the metadata event: the run's ids
                    ids = json.loads(sse.data)
                    url = f"{b_url}/threads/{ids['thread_id']}/runs/{ids['run_id']}/stream"
                    joiner = asyncio.create_task(_join(client, url, b))
                if sse.event in ("end", "error"):
                    break
        if joiner is None:
            raise RuntimeError("/stream on A sent no event")
        opened, retries = await joiner
    live = [i for i, t in a.times.items() if t >= opened and i in b.times]
    delays = [b.times[i] - a.times[i] for i in live]
    last = a.events[-1][0]
    return {
        "same_events": a.events == b.events,
        "ended": a.events[-1][1] == "end",
        "events": len(a.events),
        "tokens": sum(1 for _, event, _ in a.events if event == "data"),
        "replayed": len(a.events) - len(live),
        "join_retries": retries,
        "join_opened_after": opened - started,
        "delays": delays,
        "end_delay": b.times[last] - a.times[last] if last in b.times else None,
        "followed_seconds": b.times[max(b.times)] - opened if b.times else 0.0,
    }


def run_joined_turn(a_url: str, b_url: str, question: str) -> dict[str, Any]:
    """`joined_turn` on a fresh event loop."""
    return asyncio.run(joined_turn(a_url, b_url, question))
