"""Writes one run's events to the run event log in batches, never holding up the live stream.

`append` only puts the event in a buffer and, the first time, starts the writer task; it never
waits and never raises for the store's sake. The writer task stores what accumulated in one
write (`RunEventStore.write`): the first event at once (so the run is visible, and joinable,
straight away), then at most every `flush_seconds`, sooner when `flush_bytes` are waiting, and
at once for the run's terminal event (`end` / `error`). So writes per run are bounded by its
duration over `flush_seconds`, plus its size over `flush_bytes`, plus one or two, whatever the
number of tokens. A failed write is logged and retried with backoff (0.2 s doubling to 5 s)
with everything waiting by then; events keep accumulating meanwhile. Closing (`aclose`, or
leaving `async with`) waits at most `wait_seconds` for the last write, then stops the task
and logs what was not stored; it never raises. A run closed without a terminal event (its
stream was cancelled) is recorded as `stopped`. See `agent.memory.runlog`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from types import TracebackType

from agent.memory.runlog_events import (
    TERMINAL_EVENTS,
    RunEvent,
    RunEventStore,
    RunState,
    event_size,
)

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 5.0
CLOSE_TIMEOUT_SECONDS = 10.0


class RunRecorder:
    """The batching writer of one run's events (see the module docstring)."""

    def __init__(self, store: RunEventStore, thread_id: str, run_id: str, *,
                 flush_seconds: float = 0.5, flush_bytes: int = 16 * 1024) -> None:
        self.store = store
        self.thread_id = thread_id
        self.run_id = run_id
        self.flush_seconds = flush_seconds
        self.flush_bytes = flush_bytes
        self.writes = 0  # store writes that succeeded
        self.failed_writes = 0
        self.state = RunState.RUNNING
        self._pending: list[RunEvent] = []  # appended, not stored yet
        self._fresh_bytes = 0  # of the pending events not in a write yet
        self._last_id = 0
        self._stored_state: RunState | None = None
        self._last_write = -float("inf")
        self._wake = asyncio.Event()  # something to write
        self._hurry = asyncio.Event()  # write it now (size, terminal event, closing)
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def unstored(self) -> int:
        """Events appended but not stored yet."""
        return len(self._pending)

    def append(self, event_id: int, event: str, data: str) -> None:
        """Add the run's next event (ids increase); returns at once."""
        if self.state is not RunState.RUNNING or self._closing:
            log.error("run %s: event %d (%s) appended after the run's end; not stored",
                      self.run_id, event_id, event)
            return
        if event_id <= self._last_id:
            raise ValueError(f"event ids must increase: {event_id} after {self._last_id}")
        self._last_id = event_id
        self._pending.append(RunEvent(event_id, event, data))
        self._fresh_bytes += event_size(self._pending[-1])
        if event in TERMINAL_EVENTS:
            self.state = RunState(TERMINAL_EVENTS[event])
        if self.state is not RunState.RUNNING or self._fresh_bytes >= self.flush_bytes:
            self._hurry.set()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._write_forever(),
                                             name=f"run-events-{self.run_id}")

    def _due(self) -> bool:
        return bool(self._pending) or self._stored_state is not self.state

    async def _write_forever(self) -> None:
        backoff = RETRY_FIRST_SECONDS
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._due():
                if self._closing:
                    return
                continue
            wait = self._last_write + self.flush_seconds - time.monotonic()
            if wait > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), wait)
            self._hurry.clear()
            batch, state = list(self._pending), self.state
            self._fresh_bytes = 0
            try:
                await self.store.write(self.thread_id, self.run_id, batch, state)
            except Exception:
                self.failed_writes += 1
                self._fresh_bytes = sum(event_size(e) for e in self._pending)
                log.warning("run %s: storing %d events failed; retrying in %.1f s",
                            self.run_id, len(batch), backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RETRY_MAX_SECONDS)
                self._wake.set()
                continue
            backoff = RETRY_FIRST_SECONDS
            self.writes += 1
            self._last_write = time.monotonic()
            self._stored_state = state
            del self._pending[:len(batch)]
            if (self._fresh_bytes >= self.flush_bytes or self._closing
                    or self._stored_state is not self.state):
                self._hurry.set()
            if self._due():
                self._wake.set()
            elif self._closing:
                return

    async def aclose(self, wait_seconds: float = CLOSE_TIMEOUT_SECONDS) -> bool:
        """Store what is left (a run without a terminal event as `stopped`), waiting at most
        `wait_seconds`; True if everything was stored. Never raises for the store's sake."""
        if self.state is RunState.RUNNING and self._task is not None:
            self.state = RunState.STOPPED  # closed before its end
        self._closing = True
        task = self._task
        if task is None:
            return True
        self._hurry.set()
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=wait_seconds)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.error("run %s: %d events were not stored (the store failed for %.0f s)",
                      self.run_id, len(self._pending), wait_seconds)
            return False
        if not task.cancelled() and task.exception() is not None:
            log.error("run %s: the event writer failed", self.run_id,
                      exc_info=task.exception())
            return False
        return not self._due()

    async def __aenter__(self) -> RunRecorder:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await asyncio.shield(self.aclose())
