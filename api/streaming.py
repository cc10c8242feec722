"""Runs one turn for `/stream` and turns its events into SSE bytes.

Order: `metadata` at once, then `data` chunks and `on_tool_start` / `on_tool_end` as they
happen, then `end` with the whole answer, or `error` if the run fails. A keep-alive comment is
sent whenever no event has gone out for `SSE_KEEPALIVE_SECONDS`. If the client goes away, the
server cancels this generator and the run with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import asdict

from agent.events import Answer, BotEvent, Token, ToolEvent
from api.failures import describe_failure
from api.sse import KEEPALIVE, EventEncoder

log = logging.getLogger(__name__)
_DONE = object()
_cancelling: set[asyncio.Task[None]] = set()  # keeps cancelled runs referenced


async def _pump(events: AsyncIterator[BotEvent], queue: asyncio.Queue[object]) -> None:
    try:
        async for event in events:
            await queue.put(event)
    except Exception as exc:  # reported to the client as an `error` event
        await queue.put(exc)
    finally:
        await queue.put(_DONE)


def _tool_payload(event: ToolEvent) -> dict[str, object]:
    payload = {k: v for k, v in asdict(event).items() if v is not None and k != "kind"}
    return payload


async def sse_stream(
    events: AsyncIterator[BotEvent], run_id: str, thread_id: str, keepalive_seconds: float
) -> AsyncIterator[bytes]:
    """The SSE byte stream of one turn."""
    encoder = EventEncoder()
    yield encoder.json("metadata", {"run_id": run_id, "thread_id": thread_id})
    queue: asyncio.Queue[object] = asyncio.Queue()
    producer = asyncio.create_task(_pump(events, queue))
    try:
        while True:
            try:
                async with asyncio.timeout(keepalive_seconds):
                    item = await queue.get()
            except TimeoutError:
                yield KEEPALIVE
                continue
            if item is _DONE:
                break
            if isinstance(item, Token):
                yield encoder.text("data", item.text)
            elif isinstance(item, ToolEvent):
                name = "on_tool_start" if item.kind == "tool_start" else "on_tool_end"
                yield encoder.json(name, _tool_payload(item))
            elif isinstance(item, Answer):
                yield encoder.text("end", item.text)
            elif isinstance(item, BaseException):
                log.error("run %s failed mid-stream", run_id, exc_info=item)
                status, message = describe_failure(item)
                yield encoder.json("error", {"status_code": status, "message": message,
                                             "run_id": run_id})
    finally:
        if not producer.done():
            # Cancel once and don't await here: this generator may itself be under
            # cancellation (client gone), and a second cancel would hit the run mid-cleanup.
            producer.cancel()
            _cancelling.add(producer)
            producer.add_done_callback(_cancelling.discard)
            log.info("run %s cancelled: the client went away", run_id)
