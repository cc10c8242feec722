"""The run event log on both stores, written by one saver and read by another (two processes).

On one SQLite file and on one Cosmos container (the stand-in), each with two saver instances:
a run's events come back after any id in order and exactly once; a live run is tailed with a
bounded delay; writes per run are bounded (batches, never one per token); a run whose instance
died (its lease lapsed, no terminal event) is reported, a live but quiet one is not; a failing
or slow store neither blocks nor breaks the writer; the active run of a thread; a stopped run;
deleting the thread deletes its runs; expiry (Cosmos item TTL; SQLite purge).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from azure.cosmos.aio import CosmosClient

from agent.memory.cosmos import CosmosSaver
from agent.memory.leases import TurnGate
from agent.memory.runlog import DIED, STOPPED, RunEvent, RunEventStore, RunInfo, RunLost, RunState
from agent.memory.sqlite import ThreadSqliteSaver
from standins.cosmos import CosmosEndpoint, create_container
from tests.agent.memory.conftest import checkpoint_with, config, items_of

T = "thread-1"


class Counting:
    """A `RunEventStore` that counts writes and event bytes, and can fail or stall writes."""

    def __init__(self, store: RunEventStore) -> None:
        self.store = store
        self.writes = 0
        self.bytes = 0
        self.fail_next = 0
        self.stall_seconds = 0.0

    async def write(self, thread_id: str, run_id: str, events: Sequence[RunEvent],
                    state: RunState) -> None:
        if self.stall_seconds:
            await asyncio.sleep(self.stall_seconds)
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("the store is away")
        await self.store.write(thread_id, run_id, events, state)
        self.writes += 1
        self.bytes += sum(len(e.data.encode()) for e in events)

    async def read(self, thread_id: str, run_id: str, after: int
                   ) -> tuple[RunInfo | None, list[RunEvent]]:
        return await self.store.read(thread_id, run_id, after)

    async def info(self, thread_id: str, run_id: str) -> RunInfo | None:
        return await self.store.info(thread_id, run_id)


@dataclass
class Pair:
    """Two savers on one store, as two processes have; the writer's run store counted."""

    kind: str
    writer: Any
    reader: Any
    counted: Counting
    cosmos: CosmosEndpoint | None = None


@asynccontextmanager
async def open_pair(kind: str, tmp_path: Path, cosmos: CosmosEndpoint | None
                    ) -> AsyncIterator[Pair]:
    if kind == "sqlite":
        path = tmp_path / "threads.sqlite"
        async with ThreadSqliteSaver.open(path) as a, ThreadSqliteSaver.open(path) as b:
            yield tune(Pair("sqlite", a, b, Counting(a.runs.store)))
        return
    assert cosmos is not None
    name = f"runs-{uuid.uuid4().hex[:8]}"
    async with CosmosClient(cosmos.url, credential=cosmos.key) as one, \
            CosmosClient(cosmos.url, credential=cosmos.key) as two:
        a = CosmosSaver(await create_container(one, "runlog", name), ttl_seconds=86400,
                        max_bytes=1 << 24, run_events_ttl_seconds=600)
        b = CosmosSaver(await create_container(two, "runlog", name), ttl_seconds=86400,
                        max_bytes=1 << 24, run_events_ttl_seconds=600)
        yield tune(Pair("cosmos", a, b, Counting(a.runs.store), cosmos))
    cosmos.fail_items()


@pytest.fixture(params=["sqlite", "cosmos"])
async def pair(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Pair]:
    cosmos = request.getfixturevalue("cosmos") if request.param == "cosmos" else None
    async with open_pair(request.param, tmp_path, cosmos) as opened:
        yield opened


@pytest.fixture
async def cosmos_pair(cosmos: CosmosEndpoint, tmp_path: Path) -> AsyncIterator[Pair]:
    async with open_pair("cosmos", tmp_path, cosmos) as opened:
        yield opened


def tune(pair: Pair) -> Pair:
    pair.writer.runs.store = pair.counted
    for saver in (pair.writer, pair.reader):
        saver.runs.flush_seconds = 0.1
        saver.runs.poll_seconds = 0.05
        saver.runs.grace_seconds = 0.3
    return pair


def a_turn(tokens: int = 300) -> list[RunEvent]:
    """The events of a streamed turn: metadata, tokens with a tool call inside, end."""
    events = [RunEvent(1, "metadata", '{"run_id":"r","thread_id":"t"}')]
    for n in range(tokens):
        if n == tokens // 2:
            events.append(RunEvent(len(events) + 1, "on_tool_start",
                                   '{"name":"docsearch","input":{"query":"leases"}}'))
            events.append(RunEvent(len(events) + 1, "on_tool_end",
                                   '{"name":"docsearch","output":"three passages"}'))
        events.append(RunEvent(len(events) + 1, "data", f" tok{n}"))
    events.append(RunEvent(len(events) + 1, "end", "".join(f" tok{n}" for n in range(tokens))))
    return events


async def record(saver: Any, run_id: str, events: Sequence[RunEvent],
                 pause: float = 0.0) -> Any:
    async with saver.runs.recorder(T, run_id) as recorder:
        for event in events:
            recorder.append(event.id, event.event, event.data)
            if pause:
                await asyncio.sleep(pause)  # tokens arriving from the model
    return recorder


async def followed(saver: Any, run_id: str, after: int = 0) -> list[RunEvent]:
    async with asyncio.timeout(20):  # a follow that never ends fails, never hangs
        return [e async for e in saver.runs.follow(T, run_id, after)]


async def test_replay_after_any_id_in_order_exactly_once(pair: Pair) -> None:
    events = a_turn()
    recorder = await record(pair.writer, "r1", events)
    assert recorder.writes == pair.counted.writes <= 2  # appended at once: one batch
    for after in (0, 1, 2, 151, len(events) - 1):
        assert await followed(pair.reader, "r1", after) == events[after:]
    assert await followed(pair.reader, "r1", len(events)) == []  # ended: nothing after
    info = await pair.reader.runs.info(T, "r1")
    assert info is not None and (info.state, info.last_event_id) == ("ended", len(events))
    assert await pair.reader.runs.info(T, "unknown") is None
    assert await pair.reader.runs.info("other-thread", "r1") is None


async def test_a_live_run_is_tailed_with_bounded_delay_and_few_writes(pair: Pair) -> None:
    events = a_turn(100)
    appended: dict[int, float] = {}
    received: dict[int, float] = {}

    async def write() -> None:
        async with pair.writer.runs.recorder(T, "r2") as recorder:
            for event in events:
                appended[event.id] = time.monotonic()
                recorder.append(event.id, event.event, event.data)
                await asyncio.sleep(0.01)  # ~100 tokens a second

    async def read() -> list[RunEvent]:
        while await pair.reader.runs.info(T, "r2") is None:
            await asyncio.sleep(0.01)  # the run's first write
        got = []
        async for event in pair.reader.runs.follow(T, "r2"):
            received[event.id] = time.monotonic()
            got.append(event)
        return got

    started = time.monotonic()
    async with asyncio.timeout(20):
        got, _ = await asyncio.gather(read(), write())
    elapsed = time.monotonic() - started
    assert got == events
    delays = sorted(received[i] - appended[i] for i in appended)
    assert delays[-1] < 1.5, delays[-5:]  # flush 0.1 s + poll 0.05 s + the store
    # Batches: bounded by time, not by tokens.
    assert pair.counted.writes <= elapsed / 0.1 + 3 and pair.counted.writes < len(events) / 4


async def test_a_size_bound_batches_large_events(pair: Pair) -> None:
    pair.writer.runs.flush_seconds = 60.0  # only size (and the end) may trigger a write
    pair.writer.runs.flush_bytes = 8 * 1024
    events = [RunEvent(1, "metadata", "{}")] + [
        RunEvent(n, "data", "x" * 1024) for n in range(2, 42)] + [RunEvent(42, "end", "done")]
    recorder = await record(pair.writer, "r3", events, pause=0.001)
    assert 4 <= recorder.writes <= 8  # 40 KB in 8 KB batches, plus the first and the end
    assert await followed(pair.reader, "r3") == events


async def test_a_run_whose_instance_died_is_reported(pair: Pair) -> None:
    gate = TurnGate(pair.writer.leases, policy="reject", wait_seconds=0, lease_seconds=0.5)
    await gate.claim(T, "r4")  # taken, never renewed: its instance is about to die
    recorder = pair.writer.runs.recorder(T, "r4")
    for event in a_turn(5)[:4]:
        recorder.append(event.id, event.event, event.data)
    while (info := await pair.reader.runs.info(T, "r4")) is None or info.last_event_id < 4:
        await asyncio.sleep(0.01)
    assert recorder._task is not None
    recorder._task.cancel()  # the process is gone: no more writes, no end
    started = time.monotonic()
    # Once the lease lapses, the next turn on the thread takes it (another run holds it).
    waiting = TurnGate(pair.reader.leases, policy="wait", wait_seconds=10, lease_seconds=30)
    next_turn = await waiting.claim(T, "r4-next")
    got: list[RunEvent] = []
    with pytest.raises(RunLost) as lost:
        async with asyncio.timeout(20):
            async for event in pair.reader.runs.follow(T, "r4"):
                got.append(event)
    assert lost.value.reason == DIED and [e.id for e in got] == [1, 2, 3, 4]
    assert time.monotonic() - started < 3.0  # lease (0.5 s) + grace (0.3 s), not a hang
    assert (await pair.reader.runs.info(T, "r4")).state == "running"  # as the store says
    await next_turn.release()


async def test_a_quiet_run_that_holds_its_lease_is_not_reported(pair: Pair) -> None:
    # Two seconds: a Cosmos lease item's ttl counts whole seconds from its `_ts`.
    gate = TurnGate(pair.writer.leases, policy="reject", wait_seconds=0, lease_seconds=2.0)
    received: asyncio.Queue[RunEvent] = asyncio.Queue()

    async def join() -> None:  # from before the run's first write: it holds its thread
        async for event in pair.reader.runs.follow(T, "r5"):
            received.put_nowait(event)

    async with await gate.claim(T, "r5"), pair.writer.runs.recorder(T, "r5") as recorder:
        joiner = asyncio.create_task(join())
        recorder.append(1, "metadata", "{}")
        assert (await asyncio.wait_for(received.get(), 5)).id == 1
        active = await pair.reader.runs.active(T)
        assert active is not None and (active.run_id, active.last_event_id) == ("r5", 1)
        # A long tool call: no event for well over the grace time and the lease length.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(received.get(), 2.5)
        assert not joiner.done()  # still following: not reported as lost
        recorder.append(2, "end", "answer")
    last = await asyncio.wait_for(received.get(), 5)
    await joiner
    assert (last.id, last.event) == (2, "end")
    assert await pair.reader.runs.active(T) is None


async def test_a_failing_or_slow_store_never_blocks_or_breaks_the_writer(pair: Pair) -> None:
    pair.counted.fail_next = 3
    pair.counted.stall_seconds = 0.2
    events = a_turn(50)
    slowest = 0.0
    async with pair.writer.runs.recorder(T, "r6") as recorder:
        for event in events:
            started = time.perf_counter()
            recorder.append(event.id, event.event, event.data)
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.005)
    assert slowest < 0.005  # append never waits on the store
    assert recorder.failed_writes == 3 and recorder.unstored == 0
    assert await followed(pair.reader, "r6") == events


async def test_a_store_down_for_good_lets_the_run_end(pair: Pair) -> None:
    pair.counted.fail_next = 10**6
    recorder = pair.writer.runs.recorder(T, "r7")
    for event in a_turn(3):
        recorder.append(event.id, event.event, event.data)
    started = time.monotonic()
    assert await recorder.aclose(wait_seconds=0.5) is False  # gave up, no exception
    assert time.monotonic() - started < 1.5 and recorder.failed_writes >= 1


async def test_a_stopped_run_is_reported_after_its_events(pair: Pair) -> None:
    events = a_turn(3)[:-1]  # no end: the client left and the run was cancelled
    await record(pair.writer, "r8", events)
    info = await pair.reader.runs.info(T, "r8")
    assert info is not None and info.state == "stopped" and info.last_event_id == len(events)
    got: list[RunEvent] = []
    with pytest.raises(RunLost) as lost:
        async with asyncio.timeout(20):
            async for event in pair.reader.runs.follow(T, "r8"):
                got.append(event)
    assert got == events and lost.value.reason == STOPPED


async def test_deleting_the_thread_deletes_its_runs(pair: Pair) -> None:
    await pair.writer.aput(config(T), checkpoint_with({"n": 1}), {}, {})
    await record(pair.writer, "r9", a_turn(3))
    await pair.reader.adelete_thread(T)
    assert await pair.reader.runs.info(T, "r9") is None


async def test_cosmos_items_carry_the_ttl_and_expire(cosmos_pair: Pair) -> None:
    pair = cosmos_pair
    assert pair.cosmos is not None
    await pair.writer.aput(config(T), checkpoint_with({"n": 1}), {}, {})
    await record(pair.writer, "r10", a_turn(20))
    mine = [i for i in await items_of(pair.writer.container, T)
            if i["kind"] in ("run", "run_events")]
    assert mine and {i["ttl"] for i in mine} == {600}
    assert all(i["id"].startswith(("run.", "ev.")) for i in mine)
    pair.cosmos.advance_clock(601)
    assert await pair.reader.runs.info(T, "r10") is None
    kinds = {i["kind"] for i in await items_of(pair.writer.container, T)}
    assert kinds == {"checkpoint"}  # the thread itself lives on (its own TTL)


async def test_cosmos_write_faults_are_retried(cosmos_pair: Pair) -> None:
    pair = cosmos_pair
    assert pair.cosmos is not None
    pair.cosmos.fail_items("run.r11", status=500)  # the service fails every run-item write
    recorder = pair.writer.runs.recorder(T, "r11")
    events = a_turn(10)
    for event in events:
        recorder.append(event.id, event.event, event.data)
    while recorder.failed_writes < 2:
        await asyncio.sleep(0.05)
    pair.cosmos.fail_items()
    assert await recorder.aclose(wait_seconds=10) is True
    assert await followed(pair.reader, "r11") == events


def test_sqlite_runs_past_their_ttl_are_hidden_then_purged(tmp_path: Path) -> None:
    path = tmp_path / "threads.sqlite"

    async def main() -> None:
        async with ThreadSqliteSaver.open(path, run_events_ttl_seconds=60) as saver:
            await record(saver, "old", a_turn(3))
            with sqlite3.connect(path) as db:  # an hour passes for this run
                db.execute("UPDATE runs SET updated_at = updated_at - 3600")
            assert await saver.runs.info(T, "old") is None
            saver.run_events._next_purge = 0.0  # the next write purges
            await record(saver, "new", a_turn(3))
            assert await saver.runs.info(T, "new") is not None

    asyncio.run(main())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT DISTINCT run_id FROM run_events").fetchall() == [("new",)]
        assert db.execute("SELECT run_id FROM runs").fetchall() == [("new",)]
