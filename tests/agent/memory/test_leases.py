"""Turn control logic (`TurnGate`, `Claim`) over an in-memory lease store (units)."""

from __future__ import annotations

import asyncio
import time

import pytest

from agent.memory.leases import BusyPolicy, Lease, LocalLeases, ThreadBusy, TurnGate


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


def gate(store: LocalLeases, policy: BusyPolicy = "reject", wait: float = 0.0,
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
