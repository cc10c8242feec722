"""Item 5: thread memory. Latency and store requests of one chat turn at turn 1 and turn N of
one thread, on SQLite (`AsyncSqliteSaver`, SQL statements counted with a trace callback) and on
Cosmos DB (`CosmosSaver` against the local Cosmos-protocol server, requests counted by it).

Both run the same small real LangGraph chat graph (`tests.support.cosmos_server.build_chat_graph`)
so only the store is measured, with the app's default `CHECKPOINT_DURABILITY=exit` (one checkpoint
per turn) and with LangGraph's default `async` (a checkpoint per step).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import HumanMessage

from bench.stats import ms
from tests.support.cosmos_server import (
    build_chat_graph,
    create_container,
    measure_requests_per_turn,
    start_cosmos_server,
)

Durability = Literal["exit", "async"]


async def _timed_turns(graph: Any, turns: int, durability: Durability,
                       count: Callable[[], Awaitable[int]] | None = None,
                       ) -> tuple[list[float], dict[int, int]]:
    """Seconds of every turn 1..`turns` of one new thread, and requests at turn 1 and last."""
    config = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:8]}"}}
    times: list[float] = []
    counts: dict[int, int] = {}
    for turn in range(1, turns + 1):
        before = await count() if count else 0
        start = time.perf_counter()
        await graph.ainvoke({"messages": [HumanMessage(f"question {turn}")]}, config,
                            durability=durability)
        times.append(time.perf_counter() - start)
        if count and turn in (1, turns):
            counts[turn] = await count() - before
    return times, counts


def _summary(times: list[float], counts: dict[int, int], turns: int) -> dict[str, Any]:
    tail = times[-min(5, len(times)):]
    return {
        "turns": turns,
        "turn_1_ms": ms(times[0]),
        "turn_n_ms": ms(statistics.median(tail)),  # median of the last 5 turns
        "requests_turn_1": counts.get(1),
        "requests_turn_n": counts.get(turns),
    }


async def sqlite(data_dir: Path, turns: int, durability: Durability) -> dict[str, Any]:
    """One thread on `AsyncSqliteSaver` in a fresh database file in `data_dir` (exists)."""
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    statements = [0]

    def traced(_: str) -> None:
        statements[0] += 1

    async def count() -> int:
        return statements[0]

    async with AsyncSqliteSaver.from_conn_string(str(data_dir / f"{durability}.sqlite")) as saver:
        await saver.setup()
        await saver.conn.set_trace_callback(traced)
        times, counts = await _timed_turns(build_chat_graph(saver), turns, durability, count)
    return _summary(times, counts, turns)


async def cosmos(turns: int, durability: Durability) -> dict[str, Any]:
    """One thread on `CosmosSaver` over the local Cosmos-protocol server."""
    from azure.cosmos.aio import CosmosClient

    from agent.memory.cosmos import CosmosSaver

    with start_cosmos_server() as endpoint:
        async with CosmosClient(endpoint.url, credential=endpoint.key) as client:
            container = await create_container(client, "bench", "threads")
            counts = await measure_requests_per_turn(endpoint, container, measure_at=(1, turns),
                                                     thread_id="bench-requests",
                                                     durability=durability)
            saver = CosmosSaver(container, ttl_seconds=3600, max_bytes=16 * 1024 * 1024)
            times, _ = await _timed_turns(build_chat_graph(saver), turns, durability)
    return _summary(times, counts, turns)


async def thread_memory(data_dir: Path, turns: int) -> dict[str, Any]:
    """Both stores, at the app's durability and at LangGraph's default."""
    out: dict[str, Any] = {}
    for durability, suffix in (("exit", ""), ("async", " (durability=async)")):
        out[f"sqlite{suffix}"] = await sqlite(data_dir, turns, durability)
        out[f"cosmos{suffix}"] = await cosmos(turns, durability)
    return out
