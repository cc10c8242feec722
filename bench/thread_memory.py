"""Item 5: thread memory. How a thread's cost grows with the conversation, on both stores.

One thread of the app's own graph (offline model, `@docsearch` over this repo's docs: each turn
adds a question, a tool call, a tool result of a few KB and an answer) runs for N turns (300 in
the full run) with the app's `CHECKPOINT_DURABILITY=exit`. At turns 1, 10, 100 and 300 it
records the turn's time, bytes written and read, requests, and the store's size:

- SQLite (`ThreadSqliteSaver`): bytes = payloads (checkpoint and write blobs) the saver writes
  and reads, counted at its serializer; requests = SQL statements; size = live pages of the file.
- Cosmos DB (`CosmosSaver` on the local Cosmos-protocol server): bytes = HTTP request bodies of
  writes and response bodies of reads (JSON, base64 payloads: what Cosmos bills), counted by the
  server; size = the JSON of every stored item.

It also counts Cosmos requests per turn of a small chat graph at turns 1 and 100 with the app's
durability and with LangGraph's default (a checkpoint per step), the seed's design.
`python -m bench.thread_memory [--turns N]` runs only this item and writes
`bench/results/thread_memory.md` (and `.json`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage

from bench.environment import RESULTS, machine
from bench.stats import ms
from standins.cosmos import (
    CosmosEndpoint,
    create_container,
    measure_requests_per_turn,
    start_cosmos_server,
)

ROOT = Path(__file__).resolve().parent.parent
MEASURE_AT = (1, 10, 100, 300)
QUESTION = "@docsearch how are conversation threads stored in Cosmos DB? ({n})"

Counters = Callable[[], Awaitable[dict[str, int]]]


class CountingSerde:
    """Wraps a saver's serializer and counts the payload bytes going through it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.written = 0
        self.read = 0

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        type_, data = self.inner.dumps_typed(obj)
        self.written += len(data)
        return type_, data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        self.read += len(data[1])
        return self.inner.loads_typed(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _app_graph(saver: Any, data_dir: Path) -> Any:
    """The app's graph (offline model, the specialists of an embedded setup) on `saver`."""
    from agent.graph import build_graph
    from agent.models.factory import build_chat_model
    from agent.settings import Settings
    from agent.tools.registry import build_specialists

    settings = Settings(data_dir=data_dir, model_provider="offline", docs_dir=ROOT / "docs")
    return build_graph(build_chat_model(settings, []), build_specialists(settings).by_name, saver)


async def _grow(graph: Any, turns: int, counters: Counters) -> dict[str, Any]:
    """Run turns 1..`turns` on one new thread; the counters' deltas at the measured turns."""
    config = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex[:8]}"}}
    points = sorted({p for p in MEASURE_AT if p <= turns} | {turns})
    at: dict[str, Any] = {}
    for turn in range(1, turns + 1):
        before = await counters() if turn in points else {}
        started = time.perf_counter()
        state = await graph.ainvoke({"messages": [HumanMessage(QUESTION.format(n=turn))]},
                                    config, durability="exit")
        elapsed = time.perf_counter() - started
        if turn in points:
            after = await counters()
            at[str(turn)] = {
                "turn_ms": ms(elapsed),
                "messages": len(state["messages"]),
                "bytes_written": after["written"] - before["written"],
                "bytes_read": after["read"] - before["read"],
                "requests": after["requests"] - before["requests"],
                "store_bytes": after["store_bytes"],
            }
    return {"turns": turns, "at": at}


async def sqlite(data_dir: Path, turns: int) -> dict[str, Any]:
    """One thread on the local store, in a fresh database file."""
    from agent.memory.sqlite import ThreadSqliteSaver

    path = data_dir / "threads.sqlite"
    statements = [0]

    def traced(_: str) -> None:
        statements[0] += 1

    def live_bytes() -> int:
        with closing(sqlite3.connect(path)) as conn:
            pages, free, size = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                                 for p in ("page_count", "freelist_count", "page_size"))
        return int((pages - free) * size)

    async with ThreadSqliteSaver.open(path) as saver:
        serde = CountingSerde(saver.serde)
        saver.serde = serde  # type: ignore[assignment]
        await saver.conn.set_trace_callback(traced)

        async def counters() -> dict[str, int]:
            await saver.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            return {"written": serde.written, "read": serde.read, "requests": statements[0],
                    "store_bytes": await asyncio.to_thread(live_bytes)}

        return await _grow(_app_graph(saver, data_dir), turns, counters)


async def cosmos(endpoint: CosmosEndpoint, data_dir: Path, turns: int) -> dict[str, Any]:
    """One thread on the Cosmos DB store, in a fresh container of the local server."""
    from azure.cosmos.aio import CosmosClient

    from agent.memory.cosmos import CosmosSaver

    async with CosmosClient(endpoint.url, credential=endpoint.key) as client:
        container = await create_container(client, "bench", f"growth-{uuid.uuid4().hex[:6]}")
        saver = CosmosSaver(container, ttl_seconds=3600, max_bytes=16 * 1024 * 1024,
                            keep_latest=True)

        async def counters() -> dict[str, int]:
            stats = await asyncio.to_thread(endpoint.stats)
            return {"written": stats["bytes_written"], "read": stats["bytes_read"],
                    "requests": stats["requests"], "store_bytes": stats["stored_bytes"],
                    "write_response_bytes": stats["write_response_bytes"]}

        return await _grow(_app_graph(saver, data_dir), turns, counters)


async def requests_per_turn(endpoint: CosmosEndpoint, turns: int) -> dict[str, Any]:
    """Cosmos requests of one turn of a small chat graph, app durability vs per step."""
    from azure.cosmos.aio import CosmosClient

    out: dict[str, Any] = {}
    async with CosmosClient(endpoint.url, credential=endpoint.key) as client:
        for durability, key in (("exit", "exit"), (None, "per_step")):
            container = await create_container(client, "bench", f"requests-{key}")
            counts = await measure_requests_per_turn(endpoint, container,
                                                     measure_at=(1, turns), durability=durability)
            out[key] = {str(turn): count for turn, count in counts.items()}
    return out


async def thread_memory(data_dir: Path, turns: int) -> dict[str, Any]:
    """Both stores' growth, and Cosmos requests per turn (100 turns, or `turns` if fewer)."""
    (data_dir / "sqlite").mkdir(parents=True, exist_ok=True)
    (data_dir / "cosmos").mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"sqlite": await sqlite(data_dir / "sqlite", turns)}
    with start_cosmos_server() as endpoint:
        out["cosmos"] = await cosmos(endpoint, data_dir / "cosmos", turns)
        out["cosmos_requests"] = await requests_per_turn(endpoint, min(turns, 100))
    return out


def _kb(value: int) -> str:
    return f"{value / 1024:.1f}"


def markdown(data: dict[str, Any]) -> list[str]:
    """The thread-memory table (also part of `bench/results/latest.md`)."""
    lines = ["| Store | Turn | Messages | Store KB | KB written | KB read | Requests | Turn ms |",
             "|---|---|---|---|---|---|---|---|"]
    for store in ("sqlite", "cosmos"):
        for turn, row in data[store]["at"].items():
            lines.append(f"| {store} | {turn} | {row['messages']} | {_kb(row['store_bytes'])} | "
                         f"{_kb(row['bytes_written'])} | {_kb(row['bytes_read'])} | "
                         f"{row['requests']} | {row['turn_ms']} |")
    requests = data["cosmos_requests"]
    lines += ["", "Cosmos DB requests per turn of a one-node chat graph (turn 1 / turn "
              f"{max(int(t) for t in requests['exit'])}): "
              f"{' / '.join(str(v) for v in requests['exit'].values())} with the app's "
              "durability, "
              f"{' / '.join(str(v) for v in requests['per_step'].values())} with a checkpoint "
              "per step (LangGraph's default)."]
    return lines


def main() -> None:
    """Run this item alone; print its table and write `thread_memory.md`/`.json` in `--out`."""

    parser = argparse.ArgumentParser(prog="python -m bench.thread_memory")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        data = asyncio.run(thread_memory(Path(tmp), args.turns))
    data["machine"] = machine()
    data["seconds"] = round(time.monotonic() - started, 1)
    m = data["machine"]
    text = "\n".join([
        "# Thread memory (bench item 5, run alone)", "",
        f"{m['date']} · {m['cpu']} · {m['cores']} cores · Python {m['python']} · "
        f"took {data['seconds']} s", "", *markdown(data), ""])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "thread_memory.md").write_text(text)
    (args.out / "thread_memory.json").write_text(json.dumps(data, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
