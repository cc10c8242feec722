"""The local thread store (`ThreadSqliteSaver`): LangGraph's conformance suite with `prune`,
keep-latest pruning that keeps what the conversation's delta channel is read from, and leases
in the database file shared by two connections as by two processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES, Capability

from agent.memory.leases import Lease
from agent.memory.sqlite import ThreadSqliteSaver
from standins.cosmos import build_chat_graph
from tests.agent.memory.conftest import checkpoint_with, config


async def test_conformance_with_prune(tmp_path: Path) -> None:
    @checkpointer_test(name="ThreadSqliteSaver")
    async def factory() -> AsyncIterator[ThreadSqliteSaver]:
        async with ThreadSqliteSaver.open(tmp_path / "conformance.sqlite",
                                          keep_latest=False) as saver:
            yield saver

    report = await validate(factory)

    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    for capability in {*BASE_CAPABILITIES, Capability.PRUNE}:
        result = report.results[capability.value]
        assert result.passed and result.tests_passed > 0, failures


async def count(saver: ThreadSqliteSaver, table: str) -> int:
    cursor = await saver.conn.execute(f"SELECT COUNT(*) FROM {table}")
    row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def test_keep_latest_keeps_only_the_latest_plain_checkpoint(tmp_path: Path) -> None:
    async with ThreadSqliteSaver.open(tmp_path / "t.sqlite") as saver:
        parent = None
        for step in range(5):
            stored = await saver.aput(config("t", checkpoint_id=parent),
                                      checkpoint_with({"s": step}), {"step": step}, {})
            await saver.aput_writes(stored, [("s", step)], f"task-{step}")
            parent = stored["configurable"]["checkpoint_id"]

        listed = [t async for t in saver.alist(config("t"))]
        assert [t.checkpoint["channel_values"] for t in listed] == [{"s": 4}]
        assert listed[0].pending_writes == [("task-4", "s", 4)]
        assert await count(saver, "writes") == 1


async def test_the_conversation_survives_pruning_and_is_stored_once(tmp_path: Path) -> None:
    async with ThreadSqliteSaver.open(tmp_path / "t.sqlite") as saver:
        graph = build_chat_graph(saver)
        run: Any = {"configurable": {"thread_id": "chat"}}
        for turn in range(6):
            await graph.ainvoke({"messages": [HumanMessage(f"question {turn}")]}, run,
                                durability="exit")
        await saver.aprune(["chat"])

        state = await graph.aget_state(run)
        said = [m.content for m in state.values["messages"]]
        assert said == [text for turn in range(6)
                        for text in (f"question {turn}", f"echo: question {turn}")]
        # Each message is stored once, as the pending write of the turn that added it; no
        # checkpoint holds the conversation.
        assert await count(saver, "writes") == 12


async def test_a_lease_in_the_file_is_seen_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    async with ThreadSqliteSaver.open(path) as first, ThreadSqliteSaver.open(path) as second:
        held = await first.leases.acquire("t", "first", 30)
        assert isinstance(held, Lease)
        busy = await second.leases.acquire("t", "second", 30)
        assert isinstance(busy, float) and 25 < busy <= 30
        assert await second.leases.renew(Lease("t", "second"), 30) is False
        await second.leases.release(Lease("t", "second"))  # not its lease: no effect
        assert isinstance(await second.leases.acquire("t", "second", 30), float)

        assert await first.leases.renew(held, 30)
        await first.leases.release(held)
        assert isinstance(await second.leases.acquire("t", "second", 30), Lease)


async def test_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    async with ThreadSqliteSaver.open(path) as first, ThreadSqliteSaver.open(path) as second:
        crashed = await first.leases.acquire("t", "crashed", 0.0)  # expires at once
        assert isinstance(crashed, Lease)
        taken = await second.leases.acquire("t", "second", 30)
        assert isinstance(taken, Lease)
        assert await first.leases.renew(crashed, 30) is False


async def test_the_file_is_in_wal_mode_and_a_commit_is_seen_by_another_connection(
        tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite"
    async with ThreadSqliteSaver.open(path) as first, ThreadSqliteSaver.open(path) as second:
        cursor = await first.conn.execute("PRAGMA journal_mode")
        assert (await cursor.fetchone()) == ("wal",)
        cursor = await first.conn.execute("PRAGMA synchronous")
        assert (await cursor.fetchone()) == (1,)  # NORMAL
        checkpoint = checkpoint_with({"messages": ["hi"]})
        saved = await first.aput(config("t"), checkpoint, {"step": 0}, {})
        # Committed in the log, read by another connection before any WAL checkpoint.
        assert (tmp_path / "wal.sqlite-wal").stat().st_size > 0
        got = await second.aget_tuple(saved)
        assert got is not None and got.checkpoint["id"] == saved["configurable"]["checkpoint_id"]
