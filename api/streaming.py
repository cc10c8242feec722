"""Runs one turn for `/stream` and turns its events into SSE bytes.

Order: `metadata` at once, then `data` chunks and `on_tool_start` / `on_tool_end` as they
happen, then `end` with the whole answer, or `error` if the run fails. A run that pauses
before a call waiting for a person's decision sends `interrupt` (the call) before `end`. A
keep-alive comment is sent whenever no event has gone out for `SSE_KEEPALIVE_SECONDS`.

The run is a task of its own (the producer): it encodes each event once, with its id, hands it
to the run's recorder (the thread store's run event log, `agent.memory.runlog`, from which any
instance can replay it to a client that rejoins) and to the live response's queue. Answer
tokens reach that task's encoder straight from the node that streams them (the run's
`on_token`), without a hop through LangGraph's stream. The response drains the queue, one write
for every event that piled up meanwhile.

When the client goes away the server cancels the response. `on_disconnect="cancel"` (the
default) cancels the run with it: the model stream is closed, no more tokens are spent.
`"continue"` lets the run go on to its end, recorded and saved as if the client had stayed.
Any client may stop a recorded run (`stop_here` on this instance; elsewhere, a request in the
run log that the run looks for every `CANCEL_POLL_SECONDS`): it ends with an `error` event
(status 499) and its thread keeps what was saved before.

Whatever fails once the response has started (an event that can't be encoded, a bug) becomes an
`error` event that ends the stream, so the response is always terminated properly and never
cut; the run is then cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING

from agent.events import Answer, BotEvent, Interrupt, Token, ToolEvent
from api.problems import problem_of
from api.sse import EventEncoder, KeepAlive

if TYPE_CHECKING:
    from agent.memory.runlog import RunRecorder

log = logging.getLogger(__name__)
_DONE = object()
_running: set[asyncio.Task[None]] = set()  # keeps runs no response waits for referenced
_live: dict[str, _Producer] = {}  # the runs this process is producing, by run id
CANCEL_POLL_SECONDS = 1.0  # how often a recorded run looks for a request to stop it
STOPPED_STATUS = 499  # the `error` event of a run stopped at a client's request
STOPPED = "The run was stopped at a client's request; what it said so far is above."
WIND_DOWN_SECONDS = 5.0  # how long a run we stopped may take to let go of its thread
UNSENDABLE = ("Part of the answer could not be sent: it is not valid Unicode text. The stream "
              "was stopped; see the server log.")
STREAM_FAILED = "The stream failed on the server; see the server log."
# A turn's events, given where to send each answer token as it arrives.
Run = Callable[[Callable[[str], None]], AsyncGenerator[BotEvent, None]]
# Whether a request to stop the run was made (on any instance: the run log holds it).
StopAsked = Callable[[], Awaitable[bool]]


class _Unsendable(Exception):
    """An event of the run could not be encoded; the stream has said so and stops."""


def _tool_payload(event: ToolEvent) -> dict[str, object]:
    return {k: v for k, v in asdict(event).items() if v is not None and k != "kind"}


class _Producer:
    """The run's side: encodes each event once and sends it to the live response (while one
    listens) and to the recorder."""

    def __init__(self, run_id: str, thread_id: str, recorder: RunRecorder | None) -> None:
        self.run_id = run_id
        self.thread_id = thread_id
        self.task: asyncio.Task[None] | None = None
        self.stop_requested = False
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.listening = True
        self.encoder = EventEncoder(recorder.append if recorder is not None else None)

    def send(self, frame: bytes) -> None:
        if self.listening:
            self.queue.put_nowait(frame)

    def token(self, text: str) -> None:
        try:
            self.send(self.encoder.text("data", text))
        except UnicodeEncodeError as exc:
            self.unsendable("a Token event", exc)
            raise _Unsendable from None

    def event(self, item: BotEvent) -> None:
        if isinstance(item, Token):
            self.token(item.text)
            return
        try:
            if isinstance(item, ToolEvent):
                name = "on_tool_start" if item.kind == "tool_start" else "on_tool_end"
                frame = self.encoder.json(name, _tool_payload(item))
            elif isinstance(item, Answer):
                frame = self.encoder.text("end", item.text)
            elif isinstance(item, Interrupt):
                frame = self.encoder.json("interrupt", {
                    "run_id": self.run_id, "thread_id": self.thread_id, **asdict(item)})
            else:
                raise TypeError(f"no event for a {type(item).__name__}")
        except UnicodeEncodeError as exc:
            self.unsendable(f"a {type(item).__name__} event", exc)
            raise _Unsendable from None
        except Exception:
            log.exception("run %s: a %s event could not be encoded; stopping the stream",
                          self.run_id, type(item).__name__)
            self.send(self.encoder.error_event(500, STREAM_FAILED, self.run_id))
            raise _Unsendable from None
        self.send(frame)

    def unsendable(self, what: str, exc: UnicodeEncodeError) -> None:
        log.error("run %s: %s is not valid Unicode (%s at %d); stopping the stream",
                  self.run_id, what, exc.reason, exc.start)
        self.send(self.encoder.error_event(500, UNSENDABLE, self.run_id))

    def failed(self, exc: BaseException) -> None:
        problem = problem_of(exc, f"run {self.run_id} (mid-stream)")
        self.send(self.encoder.error_event(problem.status, problem.detail, self.run_id,
                                           problem.retry_after))

    def metadata(self) -> bytes:
        """The first event, sent before any model work."""
        return self.encoder.json("metadata", {"run_id": self.run_id,
                                              "thread_id": self.thread_id})

    def stop(self) -> None:
        """Stop the run at a client's request (it ends with an `error` event saying so)."""
        if self.task is not None and not self.task.done() and not self.stop_requested:
            self.stop_requested = True
            log.info("run %s stopped at a client's request", self.run_id)
            self.task.cancel()

    async def produce(self, run: Run) -> None:
        """Run the turn: its events, and `end` or `error`."""
        try:
            async with contextlib.aclosing(run(self.token)) as events:
                async for item in events:
                    self.event(item)
        except _Unsendable:
            log.info("run %s cancelled: the stream was stopped", self.run_id)
        except asyncio.CancelledError:
            if not self.stop_requested:
                raise
            # Asked to stop (`stop`): the run is over, and says so to whoever follows it.
            self.send(self.encoder.error_event(STOPPED_STATUS, STOPPED, self.run_id))
        except Exception as exc:  # the run failed: an `error` event ends the stream
            self.failed(exc)
        finally:
            self.queue.put_nowait(_DONE)


async def _produce(producer: _Producer, run: Run, recorder: RunRecorder | None,
                   stop_asked: StopAsked | None) -> None:
    _live[producer.run_id] = producer
    watcher = asyncio.create_task(_watch(producer, stop_asked)) if stop_asked else None
    try:
        if recorder is None:
            await producer.produce(run)
            return
        async with recorder:
            await producer.produce(run)
    finally:
        _live.pop(producer.run_id, None)
        if watcher is not None:
            watcher.cancel()


async def _watch(producer: _Producer, stop_asked: StopAsked) -> None:
    """Stop the run once a request to stop it is found in the store (made on any instance)."""
    while True:
        await asyncio.sleep(CANCEL_POLL_SECONDS)
        try:
            asked = await stop_asked()
        except Exception:  # the next poll tries again
            log.warning("run %s: looking for a stop request failed", producer.run_id,
                        exc_info=True)
            continue
        if asked:
            producer.stop()
            return


def stop_here(run_id: str) -> bool:
    """Stop the run if this process produces it; False if it doesn't (or no longer)."""
    producer = _live.get(run_id)
    if producer is None:
        return False
    producer.stop()
    return True


async def sse_stream(
    run: Run, run_id: str, thread_id: str, keepalive_seconds: float, *,
    recorder: RunRecorder | None = None, keep_going: bool = False,
    stop_asked: StopAsked | None = None,
) -> AsyncIterator[bytes]:
    """The SSE byte stream of one turn (`recorder`: where its events are kept; `keep_going`:
    the run goes on when the client leaves; `stop_asked`: polled for a request to stop it)."""
    producer = _Producer(run_id, thread_id, recorder)
    queue = producer.queue
    task: asyncio.Task[None] | None = None
    keepalive: KeepAlive | None = None
    over = False  # the stream ended on our side (as opposed to the client leaving)
    finished = False  # ... because the run ended
    try:
        yield producer.metadata()
        task = asyncio.create_task(_produce(producer, run, recorder, stop_asked))
        producer.task = task
        keepalive = KeepAlive(queue, keepalive_seconds)
        while not over:
            items = [await queue.get()]
            # One event per chunk as produced, but one write for all the events that arrived
            # while the previous write was being sent.
            while not queue.empty():
                items.append(queue.get_nowait())
            if any(i is _DONE for i in items):  # a keep-alive may have come after it
                over = finished = True
            out = b"".join(i for i in items if isinstance(i, bytes))
            if out:
                keepalive.sent()
                yield out
    except Exception:
        # Not the client leaving (that is a cancellation): a failure of ours mid-stream.
        log.exception("run %s: the stream failed; ending it with an error event", run_id)
        over = True
        yield producer.encoder.error_event(500, STREAM_FAILED, run_id)
    finally:
        if keepalive is not None:
            keepalive.cancel()
        producer.listening = False
        if task is not None and not task.done():
            _running.add(task)
            task.add_done_callback(_running.discard)
            if finished:
                # The run is over; let it store its last events and give its thread back
                # before the response ends, so a retry finds the thread free.
                await asyncio.wait({task}, timeout=WIND_DOWN_SECONDS)
            elif keep_going and not over:
                log.info("run %s goes on: the client went away (on_disconnect=continue)",
                         run_id)
            else:
                # Cancel once and don't await here: this generator may itself be under
                # cancellation (client gone), and a second cancel would hit the run
                # mid-cleanup.
                task.cancel()
                if over:
                    log.info("run %s cancelled: the stream was stopped", run_id)
                    # We ended the stream, so nothing cancels us: let the run wind down (its
                    # thread lease given back) before the response ends, so a retry finds the
                    # thread free.
                    await asyncio.wait({task}, timeout=WIND_DOWN_SECONDS)
                else:
                    log.info("run %s cancelled: the client went away", run_id)
