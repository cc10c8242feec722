"""Turn control logic (`TurnGate`, `Claim`) over an in-memory lease store (units), and a held
lease renewed in time in a real store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from agent.memory.leases import (
    BusyPolicy,
    Claim,
    Lease,
    LeaseStore,
    LocalLeases,
    ThreadBusy,
    TurnGate,
)
from agent.memory.sqlite import ThreadSqliteSaver


class Recorded(LocalLeases):
    """LocalLeases that counts renewals and releases."""

    def __init__(self) -> None:
        super().__init__()
        self.renewals = 0
        self.releases = 0

    async def renew(self, lease: Lease, seconds: float) -> bool:
        self.renewals += 1
        return await super().renew(lease, seconds)

    async def release(self, lease: Lease) -> None:
        self.releases += 1
        await super().release(lease)


def gate(store: LeaseStore, policy: BusyPolicy = "reject", wait: float = 0.0,
         lease: float = 30.0) -> TurnGate:
    return TurnGate(store, policy=policy, wait_seconds=wait, lease_seconds=lease)


async def test_reject_refuses_at_once_with_a_retry_hint() -> None:
    store = LocalLeases()
    first = await gate(store).claim("t")
    started = time.monotonic()
    with pytest.raises(ThreadBusy) as busy:
        await gate(store).claim("t")
    assert time.monotonic() - started < 0.5
    assert busy.value.retry_after == 5  # capped: the holder renews, its expiry is no promise
    assert str(busy.value) == "Thread 't' is busy with another turn; try again in 5 s."
    await gate(store).claim("other")  # other threads are free
    async with first:
        pass
    await gate(store).claim("t")  # released at the end of the block


async def test_wait_takes_the_thread_once_it_is_released() -> None:
    store = LocalLeases()
    first = await gate(store).claim("t")

    async def finish_first() -> None:
        async with first:
            await asyncio.sleep(0.2)  # the first turn runs for a while

    running = asyncio.create_task(finish_first())
    second = await gate(store, "wait", wait=5).claim("t")
    assert running.done() and second.lease.thread_id == "t"


async def test_wait_gives_up_after_the_wait_time() -> None:
    store = LocalLeases()
    await gate(store).claim("t")
    started = time.monotonic()
    with pytest.raises(ThreadBusy):
        await gate(store, "wait", wait=0.3).claim("t")
    assert 0.3 <= time.monotonic() - started < 2


async def test_a_held_claim_is_renewed_and_outlives_its_length() -> None:
    store = Recorded()
    claim = await gate(store, lease=0.3).claim("t")
    async with claim:
        while store.renewals < 4:  # four renewals: the claim lasted over a lease length
            await asyncio.sleep(0.05)
        with pytest.raises(ThreadBusy):
            await gate(store).claim("t")
    assert store.releases == 1 and not claim.lost
    await gate(store).claim("t")


async def test_a_lost_lease_stops_renewing_and_is_not_released() -> None:
    store = Recorded()
    claim = await gate(store, lease=0.3).claim("t")
    async with claim:
        store.held.clear()  # someone else's now (e.g. it expired while this process stalled)
        while not claim.lost:
            await asyncio.sleep(0.05)
    assert store.releases == 0


async def test_an_abandoned_claim_is_released_a_used_one_is_not_twice() -> None:
    store = Recorded()
    unused = await gate(store).claim("t")
    await unused.abandon()
    assert store.releases == 1
    used = await gate(store).claim("t")
    async with used:
        await used.abandon()  # in use: nothing happens
        assert store.releases == 1
    await used.abandon()
    assert store.releases == 2


class FakeClock:
    """Time that moves only when the claim sleeps (no real waiting)."""

    def __init__(self) -> None:
        self.now = 0.0

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)  # let the test's loop run


class Timed(LocalLeases):
    """Records when (on the fake clock) each renewal happened."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.renewed_at: list[float] = []

    async def renew(self, lease: Lease, seconds: float) -> bool:
        self.renewed_at.append(self.clock.now)
        return await super().renew(lease, seconds)


async def test_a_held_lease_is_renewed_every_third_of_its_length() -> None:
    clock = FakeClock()
    store = Timed(clock)
    seconds = 30.0
    lease = await store.acquire("t", "me", seconds)
    assert isinstance(lease, Lease)
    claim = Claim(store, lease, seconds, sleep=clock.sleep)
    async with claim:
        while len(store.renewed_at) < 6:
            await asyncio.sleep(0)
    # Each renewal comes a third of the lease after the previous one (or the start), so the
    # lease never gets near its end while the turn runs.
    gaps = [b - a for a, b in zip([0.0, *store.renewed_at], store.renewed_at, strict=False)]
    assert gaps and all(gap == pytest.approx(seconds / 3) for gap in gaps), gaps
    assert not claim.lost


async def test_a_held_lease_never_lapses_in_a_real_store(tmp_path: Path) -> None:
    async with ThreadSqliteSaver.open(tmp_path / "threads.sqlite") as saver:
        lease_seconds = 0.6
        claim = await gate(saver.leases, lease=lease_seconds).claim("t")
        rivals = 0
        async with claim:
            end = time.monotonic() + 3 * lease_seconds
            while time.monotonic() < end:  # a rival instance keeps trying meanwhile
                rivals += 1
                with pytest.raises(ThreadBusy):
                    await gate(saver.leases).claim("t")
                await asyncio.sleep(0.05)
        assert rivals > 10 and not claim.lost
        await gate(saver.leases).claim("t")  # released at the end
