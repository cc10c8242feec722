"""Where sqlsearch's queries run: a lane of their own, at most so many at a time.

A guarded SELECT can run for up to `SQL_TIMEOUT_SECONDS`. On the event loop's default thread
pool, which other tools share (docsearch's local index, LangChain's sync callbacks), a few
slow queries would hold every thread and stall unrelated tool calls for as long. So queries
run on the lane's own threads, and at most `SQL_MAX_CONCURRENT_QUERIES` at once per lane (one
lane per database, one database per bot, one bot per process): the rest wait for a slot, at
most `wait_seconds` (the SQL timeout), then fail with `LaneBusy`, which the tool reports.

A slot is held exactly as long as its work runs: a caller that gives up (a cancelled turn)
frees it when the thread's statement ends, not before, so the threads never exceed the cap.
Async drivers run on the event loop, under the same slots.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from langchain_core.tools import ToolException

T = TypeVar("T")


class LaneBusy(ToolException):
    """Every slot stayed taken for as long as a query may wait."""


class QueryLane:
    """At most `max_concurrent` queries at a time, on threads of their own."""

    def __init__(self, max_concurrent: int, *, name: str = "sql") -> None:
        self.max_concurrent = max_concurrent
        self.running = 0  # slots taken now
        self._free = asyncio.Semaphore(max_concurrent)
        self._threads = ThreadPoolExecutor(max_workers=max_concurrent,
                                           thread_name_prefix=f"{name}-query")

    async def run_in_thread(self, fn: Callable[[], T], wait_seconds: float) -> T:
        """Run `fn` on one of the lane's threads once a slot is free."""
        await self._take(wait_seconds)
        loop = asyncio.get_running_loop()
        try:
            future = self._threads.submit(fn)
        except BaseException:
            self._give_back()
            raise

        def done(_: Future[T]) -> None:
            # A closed loop raises: nobody is left to wait for a slot.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._give_back)

        future.add_done_callback(done)
        return await asyncio.wrap_future(future)

    async def run_on_loop(self, work: Callable[[], Awaitable[T]], wait_seconds: float) -> T:
        """Await `work()` (an async driver's query) once a slot is free."""
        async with self._slot(wait_seconds):
            return await work()

    @contextlib.asynccontextmanager
    async def _slot(self, wait_seconds: float) -> AsyncIterator[None]:
        await self._take(wait_seconds)
        try:
            yield
        finally:
            self._give_back()

    async def _take(self, wait_seconds: float) -> None:
        try:
            async with asyncio.timeout(wait_seconds):
                await self._free.acquire()
        except TimeoutError:
            raise LaneBusy(
                f"The database is busy: {self.max_concurrent} queries were running and none "
                f"finished within {wait_seconds:g} s. Try again shortly, or with a lighter "
                "query.") from None
        self.running += 1

    def _give_back(self) -> None:
        self.running -= 1
        self._free.release()

    def close(self) -> None:
        """Stop taking work; threads finish the statement they run (it has its time limit)."""
        self._threads.shutdown(wait=False, cancel_futures=True)
