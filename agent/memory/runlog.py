"""The run event log: every event of a `/stream` run, kept in the thread store, to rejoin it.

A run's SSE events (`metadata`, `data` tokens, `on_tool_start` / `on_tool_end`, `interrupt`,
then `end` or `error`) are kept with their ids in the thread's own store: an SQLite table of the
same file (`agent.memory.runlog_sqlite`), or items in the thread's Cosmos DB partition with a
TTL (`agent.memory.cosmos_runlog`, `RUN_EVENTS_TTL_SECONDS`). Any instance can then replay a
run after a given id and tail it until its end, whichever instance runs it. The saver carries
the log as `saver.runs` (a `RunLog`), as it carries `saver.leases`.

Writing (`RunLog.recorder`, `agent.memory.runlog_recorder`): `append` never waits and never
fails for the store's sake; a task of its own writes what accumulated, at most every
`flush_seconds` or when `flush_bytes` are waiting (and at once for the run's last event), so a
turn of hundreds of tokens costs a handful of writes. A failed write is logged and retried with
backoff; closing waits a bounded time for the last write, then gives up (logged): the live
stream never waits on the store.

    async with saver.runs.recorder(thread_id, run_id) as recorder:
        recorder.append(1, "metadata", '{"run_id": ...}')
        recorder.append(2, "data", "Hel")        # returns at once
        ...
        recorder.append(n, "end", answer_text)   # state: ended ("error": failed)

Reading (`RunLog.follow`): every event with an id after `after`, in order, exactly once, then
the new ones as they are stored (polled every `poll_seconds`), until the run's `end` or `error`
event. A run still `running` whose thread lease is no longer held by it (the lease names its
run, `agent.memory.leases`) for `grace_seconds` died with its instance: `follow` raises
`RunLost`, for the joiner to report as an `error` event. A run closed without a terminal event
(its stream was cancelled) is `stopped`; `follow` raises `RunLost` for it too, once its events
are read. Following an ended run from its last id yields nothing; a run that holds its thread
but has stored nothing yet is waited for. `RunLog.info` is a run's
record (state, last event id; None: unknown or expired) and
`RunLog.active` the run a thread is answering now, for `GET /threads/{id}`.

    info = await saver.runs.info(thread_id, run_id)        # None -> 404
    if info.state is not RunState.RUNNING and info.last_event_id <= after:  # -> 204
        ...
    try:
        async for event in saver.runs.follow(thread_id, run_id, after=last_event_id):
            yield sse(event.id, event.event, event.data)
    except RunLost as lost:
        yield error_event(lost.reason)

This module and the recorder import only the standard library (the HTTP layer imports them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from agent.memory.runlog_events import (
    DEFAULT_TTL_SECONDS,
    DIED,
    STOPPED,
    TERMINAL_EVENTS,
    RunEvent,
    RunEventStore,
    RunInfo,
    RunLost,
    RunState,
)
from agent.memory.runlog_recorder import RunRecorder

if TYPE_CHECKING:
    from agent.memory.leases import LeaseStore

__all__ = ["DEFAULT_TTL_SECONDS", "DIED", "STOPPED", "TERMINAL_EVENTS", "RunEvent",
           "RunEventStore", "RunInfo", "RunLog", "RunLost", "RunRecorder", "RunState"]

class RunLog:
    """A store's run events with the lease store that tells a live run from a dead one."""

    def __init__(self, store: RunEventStore, leases: LeaseStore, *,
                 flush_seconds: float = 0.5, flush_bytes: int = 16 * 1024,
                 poll_seconds: float = 0.25, grace_seconds: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.leases = leases
        self.flush_seconds = flush_seconds
        self.flush_bytes = flush_bytes
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.clock = clock

    def recorder(self, thread_id: str, run_id: str) -> RunRecorder:
        """The writer of one run's events (see the module docstring)."""
        return RunRecorder(self.store, thread_id, run_id, flush_seconds=self.flush_seconds,
                           flush_bytes=self.flush_bytes)

    async def info(self, thread_id: str, run_id: str) -> RunInfo | None:
        """The run's record; None for an unknown (or expired, or deleted) run."""
        return await self.store.info(thread_id, run_id)

    async def request_cancel(self, thread_id: str, run_id: str) -> None:
        """Ask whichever instance runs the run to stop it (it checks `cancel_requested`)."""
        await self.store.request_cancel(thread_id, run_id)

    async def cancel_requested(self, thread_id: str, run_id: str) -> bool:
        """Whether someone asked for the run to stop."""
        return await self.store.cancel_requested(thread_id, run_id)

    async def active(self, thread_id: str) -> RunInfo | None:
        """The recorded run holding the thread now, if any (the lease names it)."""
        holder = await self.leases.holder(thread_id)
        if holder is None or holder.run_id is None:
            return None
        info = await self.store.info(thread_id, holder.run_id)
        return info if info is not None and info.state is RunState.RUNNING else None

    async def _alive(self, thread_id: str, run_id: str) -> bool:
        holder = await self.leases.holder(thread_id)
        return holder is not None and holder.run_id == run_id

    async def follow(self, thread_id: str, run_id: str, after: int = 0
                     ) -> AsyncIterator[RunEvent]:
        """Every event after `after`, in order, exactly once, then the live ones, until the
        terminal event (`end`/`error`); `RunLost` if the run died or was stopped without one,
        or its record is gone."""
        lost_since: float | None = None
        missing = 0  # polls that found the record ahead of the events
        while True:
            info, events = await self.store.read(thread_id, run_id, after)
            fresh = sorted({e.id: e for e in events if e.id > after}.values(),
                           key=lambda e: e.id)
            for event in fresh:
                yield event
                after = event.id
                if event.event in TERMINAL_EVENTS:
                    return
            if info is None:
                if not await self._alive(thread_id, run_id):
                    raise RunLost(run_id, "the run is not (or no longer) in the store")
                # it holds its thread but has not stored its first event yet
            elif fresh:
                lost_since = None
            elif info.state is not RunState.RUNNING:
                missing += 1
                if info.last_event_id <= after:
                    if info.state is RunState.STOPPED:
                        raise RunLost(run_id, STOPPED)
                    return  # its terminal event is at or before `after`
                if missing > 3:  # its last events expired before its record
                    raise RunLost(run_id, "its events are no longer in the store")
            elif await self._alive(thread_id, run_id):
                lost_since = None
            else:
                now = self.clock()
                lost_since = now if lost_since is None else lost_since
                if now - lost_since >= self.grace_seconds:
                    raise RunLost(run_id, DIED)
            await asyncio.sleep(self.poll_seconds)
