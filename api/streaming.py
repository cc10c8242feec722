"""Runs one turn for `/stream` and turns its events into SSE bytes.

Order: `metadata` at once, then `data` chunks and `on_tool_start` / `on_tool_end` as they
happen, then `end` with the whole answer, or `error` if the run fails. A run that pauses
before a call waiting for a person's decision sends `interrupt` (the call) before `end`. A
keep-alive comment is sent whenever no event has gone out for `SSE_KEEPALIVE_SECONDS`. If the
client goes away, the server cancels this generator and the run with it.

The run's events reach one queue that the response drains: tool events and the answer through
the run's event iterator (a task of its own), each answer token straight from the node that
streams it (the run's `on_token`), without a hop through LangGraph's stream and that task.

Whatever fails here once the response has started (an event that can't be encoded, a bug)
becomes an `error` event that ends the stream, so the response is always terminated properly
and never cut; the run is then cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict

from agent.events import Answer, BotEvent, Interrupt, Token, ToolEvent
from api.problems import problem_of
from api.sse import KEEPALIVE, EventEncoder

log = logging.getLogger(__name__)
_DONE = object()
_cancelling: set[asyncio.Task[None]] = set()  # keeps cancelled runs referenced
WIND_DOWN_SECONDS = 5.0  # how long a run we stopped may take to let go of its thread
UNSENDABLE = ("Part of the answer could not be sent: it is not valid Unicode text. The stream "
              "was stopped; see the server log.")
STREAM_FAILED = "The stream failed on the server; see the server log."
# A turn's events, given where to send each answer token as it arrives.
Run = Callable[[Callable[[str], None]], AsyncIterator[BotEvent]]


async def _pump(events: AsyncIterator[BotEvent], queue: asyncio.Queue[object]) -> None:
    try:
        async for event in events:
            queue.put_nowait(event)
    except Exception as exc:  # reported to the client as an `error` event
        queue.put_nowait(exc)
    finally:
        queue.put_nowait(_DONE)


def _tool_payload(event: ToolEvent) -> dict[str, object]:
    return {k: v for k, v in asdict(event).items() if v is not None and k != "kind"}


def _encode(encoder: EventEncoder, item: object, run_id: str, thread_id: str) -> bytes:
    """One SSE event for one item of the run."""
    if isinstance(item, Interrupt):
        return encoder.json("interrupt", {"run_id": run_id, "thread_id": thread_id,
                                          **asdict(item)})
    if isinstance(item, Token):
        return encoder.text("data", item.text)
    if isinstance(item, ToolEvent):
        name = "on_tool_start" if item.kind == "tool_start" else "on_tool_end"
        return encoder.json(name, _tool_payload(item))
    if isinstance(item, Answer):
        return encoder.text("end", item.text)
    assert isinstance(item, BaseException)
    problem = problem_of(item, f"run {run_id} (mid-stream)")
    return encoder.error_event(problem.status, problem.detail, run_id, problem.retry_after)


def _encode_items(encoder: EventEncoder, items: list[object], run_id: str,
                  thread_id: str) -> tuple[bytes, bool]:
    """The bytes for `items` and whether the stream is over (run done, or an event unsendable)."""
    out: list[bytes] = []
    for item in items:
        if item is _DONE:
            return b"".join(out), True
        if item is KEEPALIVE:
            out.append(KEEPALIVE)
            continue
        try:
            out.append(_encode(encoder, item, run_id, thread_id))
        except UnicodeEncodeError as exc:
            log.error("run %s: a %s event is not valid Unicode (%s at %d); stopping the stream",
                      run_id, type(item).__name__, exc.reason, exc.start)
            out.append(encoder.error_event(500, UNSENDABLE, run_id))
            return b"".join(out), True
        except Exception:
            log.exception("run %s: a %s event could not be encoded; stopping the stream",
                          run_id, type(item).__name__)
            out.append(encoder.error_event(500, STREAM_FAILED, run_id))
            return b"".join(out), True
    return b"".join(out), False


class _KeepAlive:
    """Puts `KEEPALIVE` on the queue whenever nothing went out for `seconds`: one timer that
    re-arms itself, rather than a timeout around every wait for the next event."""

    def __init__(self, queue: asyncio.Queue[object], seconds: float) -> None:
        self._queue, self._seconds = queue, seconds
        self._loop = asyncio.get_running_loop()
        self.last = self._loop.time()
        self._timer = self._loop.call_later(seconds, self._tick)

    def _tick(self) -> None:
        now = self._loop.time()
        if now - self.last >= self._seconds:
            self._queue.put_nowait(KEEPALIVE)
            self.last = now
        self._timer = self._loop.call_at(self.last + self._seconds, self._tick)

    def cancel(self) -> None:
        self._timer.cancel()


async def sse_stream(
    run: Run, run_id: str, thread_id: str, keepalive_seconds: float
) -> AsyncIterator[bytes]:
    """The SSE byte stream of one turn."""
    encoder = EventEncoder()
    queue: asyncio.Queue[object] = asyncio.Queue()
    producer: asyncio.Task[None] | None = None
    keepalive: _KeepAlive | None = None
    over = False  # the stream ended on our side (as opposed to the client leaving)

    def on_token(text: str) -> None:
        queue.put_nowait(Token(text))

    try:
        yield encoder.json("metadata", {"run_id": run_id, "thread_id": thread_id})
        producer = asyncio.create_task(_pump(run(on_token), queue))
        keepalive = _KeepAlive(queue, keepalive_seconds)
        while not over:
            items = [await queue.get()]
            # One event per chunk as produced, but one write for all the events that arrived
            # while the previous write was being sent.
            while not queue.empty():
                items.append(queue.get_nowait())
            out, over = _encode_items(encoder, items, run_id, thread_id)
            if out:
                keepalive.last = asyncio.get_running_loop().time()
                yield out
    except Exception:
        # Not the client leaving (that is a cancellation): a failure of ours mid-stream.
        log.exception("run %s: the stream failed; ending it with an error event", run_id)
        over = True
        yield encoder.error_event(500, STREAM_FAILED, run_id)
    finally:
        if keepalive is not None:
            keepalive.cancel()
        if producer is not None and not producer.done():
            # Cancel once and don't await here: this generator may itself be under
            # cancellation (client gone), and a second cancel would hit the run mid-cleanup.
            producer.cancel()
            _cancelling.add(producer)
            producer.add_done_callback(_cancelling.discard)
            if over:
                log.info("run %s cancelled: the stream was stopped", run_id)
                # We ended the stream, so nothing cancels us: let the run wind down (its thread
                # lease given back) before the response ends, so a retry finds the thread free.
                await asyncio.wait({producer}, timeout=WIND_DOWN_SECONDS)
            else:
                log.info("run %s cancelled: the client went away", run_id)
