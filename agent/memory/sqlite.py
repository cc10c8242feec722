"""The local thread store: `langgraph-checkpoint-sqlite`'s saver, plus what the app needs of it.

`ThreadSqliteSaver` subclasses `AsyncSqliteSaver` (its tables, reads and writes unchanged) and
adds: turn leases in a `thread_leases` table of the same database file (`SqliteLeases`), so two
processes on one `DATA_DIR` take turns exactly as two app instances on one Cosmos container do;
LangGraph's `aprune` (keep-latest, `DeltaChannel`-aware, `agent.memory.pruning`), run after each
self-contained checkpoint when `keep_latest` is on; failures saved as `__error__` writes scrubbed
of their text (`agent.memory.scrub`); the run event log (`runs`, `agent.memory.runlog_sqlite`)
in the same file; a busy timeout long enough for two
processes writing the one file; and WAL mode with `synchronous=NORMAL` (a commit appends to the
log instead of writing a journal and syncing: the per-turn cost of a turn's few commits).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import ChannelVersions, Checkpoint, CheckpointMetadata
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from agent.memory.leases import Holder, Lease
from agent.memory.pruning import CheckpointRow, KeepLatestPruning, is_base, superseded
from agent.memory.runlog import DEFAULT_TTL_SECONDS as DEFAULT_RUN_EVENTS_TTL
from agent.memory.runlog import RunLog
from agent.memory.runlog_sqlite import SCHEMA as RUN_EVENTS_SCHEMA
from agent.memory.runlog_sqlite import SqliteRunEvents
from agent.memory.scrub import scrub_writes

# How long a statement waits for another process's write to the file to finish.
_BUSY_TIMEOUT_MS = 30_000


@asynccontextmanager
async def connect(path: Path) -> AsyncIterator[aiosqlite.Connection]:
    """A connection to the thread store's file at `path` (created if missing), set up as every
    connection to it is: the busy timeout, WAL mode and `synchronous=NORMAL`; closed on exit."""
    async with aiosqlite.connect(str(path)) as conn:
        await conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        yield conn


class ThreadSqliteSaver(KeepLatestPruning, AsyncSqliteSaver):
    """`AsyncSqliteSaver` with turn leases and keep-latest pruning."""

    def __init__(self, conn: aiosqlite.Connection, *, serde: SerializerProtocol | None = None,
                 keep_latest: bool = False,
                 run_events_ttl_seconds: int = DEFAULT_RUN_EVENTS_TTL) -> None:
        super().__init__(conn, serde=serde)
        self.keep_latest = keep_latest
        self.leases = SqliteLeases(self)
        self.run_events = SqliteRunEvents(self, run_events_ttl_seconds)
        self.runs = RunLog(self.run_events, self.leases)
        self._leases_ready = False

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, keep_latest: bool = True,
                   run_events_ttl_seconds: int = DEFAULT_RUN_EVENTS_TTL,
                   ) -> AsyncIterator[ThreadSqliteSaver]:
        """A saver on the database file at `path` (created if missing), set up."""
        async with connect(path) as conn:
            saver = cls(conn, keep_latest=keep_latest,
                        run_events_ttl_seconds=run_events_ttl_seconds)
            await saver.setup()
            yield saver

    async def setup(self) -> None:
        """The saver's tables, the lease table and the run event log's tables."""
        if self._leases_ready:
            return
        await super().setup()
        async with self.lock:
            if self._leases_ready:
                return
            await self.conn.execute(
                "CREATE TABLE IF NOT EXISTS thread_leases (thread_id TEXT PRIMARY KEY, "
                "owner TEXT NOT NULL, expires_at REAL NOT NULL, run_id TEXT)")
            cursor = await self.conn.execute("PRAGMA table_info(thread_leases)")
            if "run_id" not in {row[1] for row in await cursor.fetchall()}:
                # a file written before leases named their run
                await self.conn.execute("ALTER TABLE thread_leases ADD COLUMN run_id TEXT")
            for statement in RUN_EVENTS_SCHEMA:
                await self.conn.execute(statement)
            await self.conn.commit()
            self._leases_ready = True

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Save the checkpoint; with `keep_latest`, a self-contained one prunes the checkpoints
        it supersedes."""
        saved = await super().aput(config, checkpoint, metadata, new_versions)
        if self.keep_latest and is_base(metadata):
            configurable = saved["configurable"]
            await self.prune_thread(str(configurable["thread_id"]), configurable["checkpoint_ns"])
        return saved

    async def aput_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                          task_id: str, task_path: str = "") -> None:
        """Save a task's writes, a failure on the error channel scrubbed
        (`agent.memory.scrub`)."""
        await super().aput_writes(config, scrub_writes(writes), task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete the thread's checkpoints and writes, then its run event log."""
        await super().adelete_thread(thread_id)
        await self.setup()
        async with self.lock:
            await self.run_events.delete_thread(thread_id)
            await self.conn.commit()

    async def prune_thread(self, thread_id: str, only_ns: str | None = None) -> None:
        """Remove the checkpoints of the thread (of one namespace) that keep-latest pruning
        drops, with their writes."""
        await self.setup()
        async with self.lock:
            cursor = await self.conn.execute(
                "SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id, metadata "
                "FROM checkpoints WHERE thread_id = ?", (thread_id,))
            rows = [CheckpointRow(ns, cid, parent, is_base(_metadata(meta)))
                    for ns, cid, parent, meta in await cursor.fetchall()
                    if only_ns is None or ns == only_ns]
            drop = superseded(rows)
            for ns, ids in drop.items():
                marks = ",".join("?" * len(ids))
                for table in ("writes", "checkpoints"):
                    await self.conn.execute(
                        f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = ? "
                        f"AND checkpoint_id IN ({marks})", (thread_id, ns, *ids))
            await self.conn.commit()


def _metadata(blob: bytes | str | None) -> dict[str, Any]:
    if not blob:
        return {}
    value = json.loads(blob)
    return value if isinstance(value, dict) else {}


class SqliteLeases:
    """`LeaseStore` in the saver's database file (wall-clock expiry: one machine's clock)."""

    def __init__(self, saver: ThreadSqliteSaver) -> None:
        self.saver = saver

    async def acquire(self, thread_id: str, owner: str, seconds: float,
                      run_id: str | None = None) -> Lease | float:
        saver = self.saver
        await saver.setup()
        now = time.time()
        async with saver.lock:
            cursor = await saver.conn.execute(
                "INSERT INTO thread_leases (thread_id, owner, expires_at, run_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET "
                "owner = excluded.owner, expires_at = excluded.expires_at, "
                "run_id = excluded.run_id WHERE thread_leases.expires_at <= ?",
                (thread_id, owner, now + seconds, run_id, now))
            taken = cursor.rowcount == 1
            left = 0.0
            if not taken:
                cursor = await saver.conn.execute(
                    "SELECT expires_at FROM thread_leases WHERE thread_id = ?", (thread_id,))
                row = await cursor.fetchone()
                left = float(row[0]) - now if row else 0.0
            await saver.conn.commit()
        return Lease(thread_id, owner, run_id=run_id) if taken else max(left, 0.0)

    async def renew(self, lease: Lease, seconds: float) -> bool:
        saver = self.saver
        async with saver.lock:
            cursor = await saver.conn.execute(
                "UPDATE thread_leases SET expires_at = ? WHERE thread_id = ? AND owner = ?",
                (time.time() + seconds, lease.thread_id, lease.owner))
            kept = cursor.rowcount == 1
            await saver.conn.commit()
        return kept

    async def release(self, lease: Lease) -> None:
        saver = self.saver
        async with saver.lock:
            await saver.conn.execute(
                "DELETE FROM thread_leases WHERE thread_id = ? AND owner = ?",
                (lease.thread_id, lease.owner))
            await saver.conn.commit()

    async def holder(self, thread_id: str) -> Holder | None:
        saver = self.saver
        await saver.setup()
        async with saver.lock:
            cursor = await saver.conn.execute(
                "SELECT run_id, expires_at FROM thread_leases WHERE thread_id = ?", (thread_id,))
            row = await cursor.fetchone()
        if row is None or float(row[1]) <= time.time():
            return None
        return Holder(row[0], float(row[1]))
