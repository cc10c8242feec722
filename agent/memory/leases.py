"""Turn control across processes: one turn at a time per thread, decided in the thread store.

Before a turn (or a delete) runs on a thread, the caller takes the thread's *lease* in the store
itself (a lease item in Cosmos DB, a row of the SQLite file), so two app instances, or two local
processes, on one store refuse or queue each other's turns exactly as one process would. A lease
lasts `THREAD_LEASE_SECONDS`; it is renewed while the turn runs (a long stream keeps it) and
released at the end; a crashed holder's lease simply expires and the thread is usable again.

`THREAD_BUSY` says what a turn finding the thread busy does: `reject` (raise `ThreadBusy` at
once; the API answers 409 with `Retry-After`) or `wait` (retry until the lease is free, for at
most `THREAD_BUSY_WAIT_SECONDS`, then `ThreadBusy`). The stores implement `LeaseStore`
(`agent.memory.cosmos_leases`, `agent.memory.sqlite`); `LocalLeases` serves any other
checkpointer, within one process only.

A lease knows the run it was taken for (`TurnGate.claim(thread_id, run_id)`), and anyone can
ask a store who holds a thread (`LeaseStore.holder`: the run id and when its lease expires), so
"run R is alive on some instance" (R holds the thread) can be told from "the instance running R
died" (R's lease lapsed without R's end being recorded, see `agent.memory.runlog`). This module
imports nothing but the standard library: the HTTP layer imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

BusyPolicy = Literal["reject", "wait"]
_FIRST_POLL_SECONDS = 0.05
_MAX_POLL_SECONDS = 1.0
_MAX_RETRY_AFTER_SECONDS = 5


class ThreadBusy(Exception):
    """Another turn holds the thread; `retry_after` suggests when to try again (seconds)."""

    def __init__(self, thread_id: str, retry_after: float) -> None:
        self.thread_id = thread_id
        self.retry_after = max(1, min(_MAX_RETRY_AFTER_SECONDS, math.ceil(retry_after)))
        super().__init__(
            f"Thread {thread_id!r} is busy with another turn; try again in "
            f"{self.retry_after} s."
        )


@dataclass
class Lease:
    """A lease a store granted: whose it is (a token unique to one claim), the run it was
    taken for, and the store's token for it (an ETag, say)."""

    thread_id: str
    owner: str
    token: Any = None
    run_id: str | None = None


@dataclass(frozen=True)
class Holder:
    """Who holds a thread: the run its lease was taken for (None: a lease taken without one,
    such as a delete's) and when the lease expires unless renewed (wall clock, epoch seconds)."""

    run_id: str | None
    expires_at: float


class LeaseStore(Protocol):
    """Where leases live. `acquire` returns the lease, or the seconds until the current
    holder's lease expires; `renew` returns False once the lease is no longer this owner's;
    `holder` is the thread's current holder, None when no unexpired lease is held."""

    async def acquire(self, thread_id: str, owner: str, seconds: float,
                      run_id: str | None = None) -> Lease | float: ...

    async def renew(self, lease: Lease, seconds: float) -> bool: ...

    async def release(self, lease: Lease) -> None: ...

    async def holder(self, thread_id: str) -> Holder | None: ...


@dataclass
class LocalLeases:
    """Leases in this process's memory (for checkpointers without a lease store)."""

    # thread id -> (owner, monotonic expiry, run id)
    held: dict[str, tuple[str, float, str | None]] = field(default_factory=dict)

    async def acquire(self, thread_id: str, owner: str, seconds: float,
                      run_id: str | None = None) -> Lease | float:
        now = time.monotonic()
        current = self.held.get(thread_id)
        if current is not None and current[1] > now:
            return current[1] - now
        self.held[thread_id] = (owner, now + seconds, run_id)
        return Lease(thread_id, owner, run_id=run_id)

    async def renew(self, lease: Lease, seconds: float) -> bool:
        current = self.held.get(lease.thread_id)
        if current is None or current[0] != lease.owner:
            return False
        self.held[lease.thread_id] = (lease.owner, time.monotonic() + seconds, current[2])
        return True

    async def holder(self, thread_id: str) -> Holder | None:
        current = self.held.get(thread_id)
        left = current[1] - time.monotonic() if current is not None else 0.0
        if current is None or left <= 0:
            return None
        return Holder(current[2], time.time() + left)

    async def release(self, lease: Lease) -> None:
        current = self.held.get(lease.thread_id)
        if current is not None and current[0] == lease.owner:
            del self.held[lease.thread_id]


class Claim:
    """A held lease. Used as `async with claim:` it is renewed every third of its length
    until the block exits, then released. A claim never entered expires on its own."""

    def __init__(self, store: LeaseStore, lease: Lease, seconds: float, *,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.store = store
        self.lease = lease
        self.seconds = seconds
        self._sleep = sleep  # tests pass a fake clock's
        self.lost = False
        self._entered = False
        self._released = False
        self._renewer: asyncio.Task[None] | None = None

    @property
    def run_id(self) -> str | None:
        """The run the lease was taken for."""
        return self.lease.run_id

    async def _renew_forever(self) -> None:
        while True:
            await self._sleep(self.seconds / 3)
            try:
                kept = await self.store.renew(self.lease, self.seconds)
            except Exception:  # a failed renewal is retried at the next interval
                log.warning("renewing the lease of thread %s failed", self.lease.thread_id,
                            exc_info=True)
                continue
            if not kept:
                self.lost = True
                log.error("lost the lease of thread %s while its turn ran",
                          self.lease.thread_id)
                return

    async def __aenter__(self) -> Claim:
        self._entered = True
        self._renewer = asyncio.create_task(self._renew_forever())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.release()

    async def abandon(self) -> None:
        """Release the lease if the claim was never used (its turn never started)."""
        if not self._entered:
            await self.release()

    async def release(self) -> None:
        """Stop renewing and give the lease back (idempotent; failures are only logged: the
        lease then expires on its own)."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        if self._released or self.lost:
            return
        self._released = True
        try:
            await asyncio.shield(self.store.release(self.lease))
        except Exception:
            log.warning("releasing the lease of thread %s failed; it expires in %.0f s",
                        self.lease.thread_id, self.seconds, exc_info=True)


class TurnGate:
    """Takes a thread's lease for a turn under the configured busy policy."""

    def __init__(self, store: LeaseStore, *, policy: BusyPolicy, wait_seconds: float,
                 lease_seconds: float) -> None:
        self.store = store
        self.policy = policy
        self.wait_seconds = wait_seconds
        self.lease_seconds = lease_seconds

    async def claim(self, thread_id: str, run_id: str | None = None) -> Claim:
        """The thread's lease for run `run_id` (None: not a run, e.g. a delete), or
        `ThreadBusy` (at once, or after waiting, by policy)."""
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + (self.wait_seconds if self.policy == "wait" else 0.0)
        pause = _FIRST_POLL_SECONDS
        while True:
            got = await self.store.acquire(thread_id, owner, self.lease_seconds, run_id)
            if isinstance(got, Lease):
                return Claim(self.store, got, self.lease_seconds)
            left = deadline - time.monotonic()
            if left <= 0:
                raise ThreadBusy(thread_id, got)
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, _MAX_POLL_SECONDS)
