"""Any thread id the API accepts works in both stores: Unicode, and 128 characters long."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from azure.cosmos.aio import ContainerProxy
from langchain_core.messages import HumanMessage

from agent.memory.cosmos import CosmosSaver
from agent.memory.sqlite import ThreadSqliteSaver
from standins.cosmos import build_chat_graph

THREAD_IDS = [
    "スレッド-1 ✓ ünïcödé",
    "x" * 128,
    "🧵" * 128,  # 128 characters, 512 bytes of UTF-8
    "with spaces, quotes \" ' and a % sign",
]


async def check_thread_ids(saver: Any) -> None:
    graph = build_chat_graph(saver)
    for thread_id in THREAD_IDS:
        run: Any = {"configurable": {"thread_id": thread_id}}
        for n in range(2):
            await graph.ainvoke({"messages": [HumanMessage(f"{thread_id} {n}")]}, run,
                                durability="exit")

    for thread_id in THREAD_IDS:
        state = await graph.aget_state({"configurable": {"thread_id": thread_id}})
        assert [m.content for m in state.values["messages"]] == [
            f"{thread_id} 0", f"echo: {thread_id} 0", f"{thread_id} 1", f"echo: {thread_id} 1"]
    listed = {t.config["configurable"]["thread_id"] async for t in saver.alist(None)}
    assert listed == set(THREAD_IDS)

    await saver.adelete_thread(THREAD_IDS[2])
    assert await saver.aget_tuple({"configurable": {"thread_id": THREAD_IDS[2]}}) is None
    remaining = {t.config["configurable"]["thread_id"] async for t in saver.alist(None)}
    assert remaining == set(THREAD_IDS) - {THREAD_IDS[2]}


async def test_unicode_and_long_thread_ids_in_cosmos(container: ContainerProxy) -> None:
    await check_thread_ids(CosmosSaver(container, ttl_seconds=3600, max_bytes=16 * 1024 * 1024,
                                       keep_latest=True))


async def test_unicode_and_long_thread_ids_in_sqlite(tmp_path: Path) -> None:
    async with ThreadSqliteSaver.open(tmp_path / "threads.sqlite") as saver:
        await check_thread_ids(saver)
