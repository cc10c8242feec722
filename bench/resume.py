"""Item 7: what resumable streams cost. The run event log, `on_disconnect: continue` on.

    python -m bench.resume [--tiny] [--out DIR] [--note TEXT]
                                        -> bench/results/resume.md and resume.json

Per store (SQLite, then Cosmos DB on the stand-in `standins.cosmos`), two dev-server processes
on one store (one SQLite file; one Cosmos container): A is `bench.resume_server` (our server
with a switch for the run log and counters of its writes), B plain `python -m api`. The model is
the bench's loopback Azure OpenAI server (`bench.model_server`); each turn is one `@docsearch`
`/stream` turn on a new thread (two model calls: the tool call, then the answer; the answer's
tokens are `Answer:`, ` word1`, ` word2`, ...: a few bytes each, as real tokens are).

1. **Store writes per streamed turn.** For each answer (100 and 300 tokens at 50 tokens/s, and
   flat out), one turn at a time on A, the log on, then off (same answer), in turn. Per turn:
   the log's writes, events and row bytes (A's counters), and the whole store's traffic:
   SQLite: the write-ahead log's frames (pages of `page_size` + 24 bytes) and commits,
   counted in the `-wal` file, which this process empties (`wal_checkpoint(TRUNCATE)`) before
   each turn; Cosmos DB: the stand-in's requests and request-body bytes (its stats). The log's
   share is the difference, on minus off.
2. **Added latency of a joined stream.** For each paced answer, a client streams the turn from A
   and a second client follows the same run on B from its first event (`bench.joined`): per
   event, when B received it minus when A did (p50, p99, max), and what following costs B
   (CPU; on Cosmos DB, read requests) per second followed.
3. **CPU per streamed token, log on and off.** `cpu_streams` simultaneous paced streams on A,
   `cpu_requests` each, A's user + system CPU over the answer tokens; rounds alternate on/off
   and off/on. (And from 1: flat out, one stream at a time.)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import sqlite3
import struct
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench import joined, loadgen
from bench.config import QUESTION, RESUME_FULL, RESUME_TINY, ResumeSize
from bench.environment import RESULTS, machine
from bench.processes import Proc, app_env, running, spawn, start_model, wait_ready
from bench.resume_report import summarize, write
from bench.streaming import load, set_pacing
from standins.cosmos import CosmosEndpoint, start_cosmos_server
from standins.processes import free_port

CONTINUE = {"on_disconnect": "continue"}
Log = Callable[[str], None]


def _start(name: str, argv: list[str], env: dict[str, str], work: Path) -> Proc:
    port = free_port()
    return spawn(f"{name}-{port}", argv, {**env, "HOST": "127.0.0.1", "PORT": str(port)}, work,
                 port)


@contextmanager
def store_pair(store: str, model: Proc, work: Path) -> Iterator[tuple[Proc, Proc, Any]]:
    """A (`bench.resume_server`) and B (`python -m api`) on one store, ready; and the store's
    meter."""
    with ExitStack() as stack:
        if store == "cosmos":
            endpoint: CosmosEndpoint = stack.enter_context(start_cosmos_server())
            shared = {"AZURE_COSMOSDB_ENDPOINT": endpoint.url, "AZURE_COSMOSDB_KEY": endpoint.key,
                      "AZURE_COSMOSDB_DATABASE": f"bench-{uuid.uuid4().hex[:6]}",
                      "AZURE_COSMOSDB_CONTAINER": "threads",
                      "AZURE_COSMOSDB_CREATE_IF_MISSING": "true"}
            dirs = (work / "cosmos-a", work / "cosmos-b")
            meter: Any = CosmosMeter(endpoint)
        else:
            shared, dirs = {}, (work / "sqlite", work / "sqlite")  # one DATA_DIR, one file
            meter = SqliteMeter(dirs[0] / "threads.sqlite")
        for folder in dirs:
            folder.mkdir(parents=True, exist_ok=True)
        servers = []
        for name, argv, folder in (("a", ["-m", "bench.resume_server"], dirs[0]),
                                   ("b", ["-m", "api"], dirs[1])):
            # One after the other: the first creates the tables (the Cosmos DB container).
            proc = _start(f"{store}-{name}", [sys.executable, *argv],
                          {**app_env(model.url, folder), **shared}, work)
            stack.enter_context(running([proc]))
            wait_ready(proc, "/health")
            _warm(proc)
            servers.append(proc)
        a, b = servers
        yield a, b, meter


def _warm(server: Proc) -> None:
    """First turns build the bot, the docs index and the model client: not measured."""
    for _ in range(2):
        turn(server)


def turn(server: Proc) -> dict[str, Any]:
    """One `/stream` turn with `continue`, read to its end, in this process."""

    async def one() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=30.0)) as client:
            result = await loadgen.read_stream(client, server.url + "/stream", QUESTION,
                                               extra=CONTINUE)
        return asdict(result)

    return asyncio.run(one())


def switch(server: Proc, on: bool) -> dict[str, Any]:
    """Switch A's run log; its counters."""
    response = httpx.post(server.url + "/_bench/runlog", json={"on": on}, timeout=10)
    response.raise_for_status()
    out: dict[str, Any] = response.json()
    return out


def runlog_counters(server: Proc) -> dict[str, Any]:
    """A's run-log counters so far."""
    response = httpx.get(server.url + "/_bench/runlog", timeout=10)
    response.raise_for_status()
    out: dict[str, Any] = response.json()
    return out


def wal_counts(db: Path) -> tuple[int, int, int]:
    """Frames, commit frames and page size of the `-wal` file (frames with the header's salts,
    i.e. written since it was last reset)."""
    wal = db.with_name(db.name + "-wal")
    data = wal.read_bytes() if wal.exists() else b""
    if len(data) < 32:
        return 0, 0, 0
    page = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    frames = commits = 0
    offset = 32
    while offset + 24 + page <= len(data) and data[offset + 8:offset + 16] == salts:
        frames += 1
        commits += struct.unpack(">I", data[offset + 4:offset + 8])[0] != 0
        offset += 24 + page
    return frames, commits, page


class SqliteMeter:
    """The SQLite file's write-ahead log, emptied before a turn and counted after it."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def before(self) -> dict[str, int]:
        with closing(sqlite3.connect(self.db, timeout=30, isolation_level=None)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        frames, commits, _ = wal_counts(self.db)  # 0 unless a reader kept it from emptying
        return {"frames": frames, "commits": commits}

    def delta(self, before: dict[str, int]) -> dict[str, int | None]:
        frames, commits, page = wal_counts(self.db)
        if frames < before["frames"]:  # the log was reset mid-turn: not counted
            return {"wal_bytes": None, "commits": None}
        return {"wal_bytes": (frames - before["frames"]) * (page + 24),
                "commits": commits - before["commits"]}


class CosmosMeter:
    """The Cosmos DB stand-in's request and byte counters."""

    KEYS = ("requests", "write_requests", "bytes_written", "read_requests", "bytes_read")

    def __init__(self, endpoint: CosmosEndpoint) -> None:
        self.endpoint = endpoint

    def before(self) -> dict[str, int]:
        stats = self.endpoint.stats()
        return {k: stats[k] for k in self.KEYS}

    def delta(self, before: dict[str, int]) -> dict[str, int | None]:
        stats = self.endpoint.stats()
        return {k: stats[k] - before[k] for k in self.KEYS}


def metered_turn(a: Proc, meter: Any, on: bool) -> dict[str, Any]:
    """One turn on A, the log on or off: the client's view, A's CPU, log and store counters."""
    switch(a, on)
    store0, log0, cpu0 = meter.before(), runlog_counters(a), a.cpu_seconds()
    result = turn(a)
    cpu = a.cpu_seconds() - cpu0
    log1 = runlog_counters(a)
    return {"on": on, "ok": result["ok"], "tokens": result["tokens"], "cpu_seconds": cpu,
            "total_seconds": result["total"], "store": meter.delta(store0),
            "runlog": {k: log1[k] - log0[k] for k in
                       ("writes", "events", "row_bytes", "write_seconds", "failed_writes")}}


def writes_item(a: Proc, model: Proc, meter: Any, size: ResumeSize, log: Log
                ) -> list[dict[str, Any]]:
    """Item 7.1: per answer, turns with the log on and off in turn."""
    rows = []
    for tokens, rate in size.answers:
        set_pacing(model, size.ttft, rate, tokens - 1)  # "Answer:" + tokens - 1 words
        n = size.paced_turns if rate else size.flat_turns
        turns = [metered_turn(a, meter, on) for _ in range(n) for on in (True, False)]
        rows.append({"tokens": tokens, "tokens_per_second": rate, "turns": turns})
        log(f"  {tokens} tokens at {rate or 'flat out'}: {len(turns)} turns")
    switch(a, True)
    return rows


def joined_item(a: Proc, b: Proc, model: Proc, meter: Any, size: ResumeSize, log: Log
                ) -> list[dict[str, Any]]:
    """Item 7.2: per paced answer, turns on A followed on B."""
    rows = []
    for tokens, rate in size.answers:
        if not rate:
            continue
        set_pacing(model, size.ttft, rate, tokens - 1)
        turns = []
        for _ in range(size.join_turns):
            store0, cpu0 = meter.before(), b.cpu_seconds()
            out = joined.run_joined_turn(a.url, b.url, QUESTION)
            out["b_cpu_seconds"] = b.cpu_seconds() - cpu0
            out["store"] = meter.delta(store0)
            turns.append(out)
        rows.append({"tokens": tokens, "tokens_per_second": rate, "turns": turns})
        log(f"  joined, {tokens} tokens at {rate}: {len(turns)} turns")
    return rows


def cpu_item(a: Proc, model: Proc, size: ResumeSize, log: Log) -> list[dict[str, Any]]:
    """Item 7.3: rounds of `cpu_streams` paced streams, the log on and off (order alternates)."""
    set_pacing(model, size.ttft, 50.0, size.cpu_answer_tokens - 1)
    rounds = []
    for r in range(size.cpu_rounds):
        for on in ((True, False) if r % 2 == 0 else (False, True)):
            switch(a, on)
            cpu0 = a.cpu_seconds()
            out = load(a, size.cpu_streams, 600.0, size.cpu_streams * size.cpu_requests,
                       body=CONTINUE)
            rounds.append({"on": on, "cpu_seconds": a.cpu_seconds() - cpu0,
                           "tokens": sum(x["tokens"] for x in out["results"]),
                           "requests": len(out["results"]),
                           "errors": sum(1 for x in out["results"] if not x["ok"])})
            log(f"  cpu, log {'on' if on else 'off'}: {rounds[-1]}")
    switch(a, True)
    return rounds


def run(size: ResumeSize, out_dir: Path = RESULTS, log: Log = print, note: str = ""
        ) -> dict[str, Any]:
    """Run item 7 at this size, write `out_dir`/resume.md and .json (with `note`, about the
    run), return the summary."""
    started = time.monotonic()
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    raw_dir = out_dir / "raw" / f"resume-{stamp}"
    raw: dict[str, Any] = {"size": asdict(size), "machine": machine(), "note": note,
                           "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        work = Path(tmp)
        model = start_model(work, size.ttft, 50.0, 99)
        with running([model]):
            for store in size.stores:
                log(f"7. resumable streams on {store}")
                with store_pair(store, model, work) as (a, b, meter):
                    try:
                        raw[store] = {"writes": writes_item(a, model, meter, size, log),
                                      "joined": joined_item(a, b, model, meter, size, log),
                                      "cpu": cpu_item(a, model, size, log)}
                    finally:
                        raw_dir.mkdir(parents=True, exist_ok=True)
                        for proc in (a, b):
                            (raw_dir / f"{proc.name}.log").write_text(proc.log())
    raw["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    raw["seconds"] = round(time.monotonic() - started, 1)
    (raw_dir / "resume-raw.json").write_text(json.dumps(raw, indent=2) + "\n")
    data = summarize(raw)
    text = write(data, out_dir)
    log("")
    log(text)
    return data


def main() -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(prog="python -m bench.resume", description=__doc__)
    parser.add_argument("--tiny", action="store_true", help="a few seconds' smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--note", default="", help="a sentence about the run, for resume.md")
    args = parser.parse_args()
    run(RESUME_TINY if args.tiny else RESUME_FULL, args.out, note=args.note)


if __name__ == "__main__":
    main()
