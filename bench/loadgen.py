"""The load generator: a separate process that opens `/stream` requests with async httpx.

    echo '{"url": ..., "concurrency": 50, "seconds": 10, "max_requests": 500}' \
        | python -m bench.loadgen            -> one JSON object on stdout

(optional: `"question"`, `"timeout"`, and `"body"`, more fields of every request's body, e.g.
`{"on_disconnect": "continue"}`.)

`concurrency` workers start at once; each sends one request after another until `seconds`
have passed or `max_requests` were started. For every request it records the time to the
first answer token (the first `data` event), the gaps between tokens, the token count and
whether it ended with `end` (anything else is an error). Events are read with `httpx-sse`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse


@dataclass
class StreamResult:
    """One `/stream` request as the client saw it."""

    ok: bool = False
    status: int = 0
    error: str = ""
    ttft: float | None = None
    total: float = 0.0
    tokens: int = 0
    first_to_last: float = 0.0
    gaps: list[float] = field(default_factory=list)


async def read_stream(client: httpx.AsyncClient, url: str, question: str,
                      thread_id: str = "", extra: dict[str, Any] | None = None
                      ) -> StreamResult:
    """POST one question to `url` (a `/stream` URL) and time its events."""
    result = StreamResult()
    start = time.perf_counter()
    last: float | None = None
    body = {"user_input": question, "thread_id": thread_id or str(uuid.uuid4()),
            **(extra or {})}
    try:
        async with aconnect_sse(client, "POST", url, json=body) as source:
            result.status = source.response.status_code
            if result.status != 200:
                result.error = f"HTTP {result.status}"
                return result
            async for sse in source.aiter_sse():
                now = time.perf_counter()
                if sse.event == "data":
                    result.tokens += 1
                    if last is None:
                        result.ttft = now - start
                    else:
                        result.gaps.append(now - last)
                    last = now
                elif sse.event == "end":
                    result.ok = True
                elif sse.event == "error":
                    result.error = "error event"
    except (httpx.HTTPError, SSEError, OSError) as exc:
        result.error = type(exc).__name__
    result.total = time.perf_counter() - start
    if result.ttft is not None and last is not None:
        result.first_to_last = last - start - result.ttft
    if not result.ok and not result.error:
        result.error = "no end event"
    return result


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the load the spec describes; the per-request results."""
    concurrency = int(spec["concurrency"])
    deadline = time.perf_counter() + float(spec["seconds"])
    budget = [int(spec.get("max_requests", 10 * concurrency))]
    results: list[StreamResult] = []
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(float(spec.get("timeout", 120)), connect=30.0)

    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        async def worker() -> None:
            while budget[0] > 0 and time.perf_counter() < deadline:
                budget[0] -= 1
                results.append(await read_stream(client, spec["url"], spec["question"],
                                                 extra=spec.get("body")))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {"wall": wall, "results": [asdict(r) for r in results]}


def main() -> None:
    """Read the spec from stdin, print the results as JSON."""
    spec = json.loads(sys.stdin.read())
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
