"""The run event log in the SQLite thread store: two tables of the same database file.

`runs` holds one record per run (thread id, run id, state, last event id, when last written)
and `run_events` its events (`event_id`, `event`, `data`; primary key thread, run, id, so a
retried write stores an event once). A write is one transaction: the events and the record.
A read is one lock hold: the record and the events after an id. Runs (with their events) not
written for `ttl_seconds` are purged, at most once a minute, by the next write; deleting a
thread deletes its runs. The saver's connection and lock are shared with the checkpoints, so
two processes on one file see each other's runs as two Cosmos DB instances do.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from agent.memory.runlog_events import RunEvent, RunInfo, RunState

if TYPE_CHECKING:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs (thread_id TEXT NOT NULL, run_id TEXT NOT NULL, "
    "state TEXT NOT NULL, last_event_id INTEGER NOT NULL, updated_at REAL NOT NULL, "
    "PRIMARY KEY (thread_id, run_id))",
    "CREATE INDEX IF NOT EXISTS runs_by_age ON runs (updated_at)",
    "CREATE TABLE IF NOT EXISTS run_events (thread_id TEXT NOT NULL, run_id TEXT NOT NULL, "
    "event_id INTEGER NOT NULL, event TEXT NOT NULL, data TEXT NOT NULL, "
    "PRIMARY KEY (thread_id, run_id, event_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS run_cancels (thread_id TEXT NOT NULL, run_id TEXT NOT NULL, "
    "PRIMARY KEY (thread_id, run_id)) WITHOUT ROWID",
)
_PURGE_EVERY_SECONDS = 60.0


class SqliteRunEvents:
    """`RunEventStore` in the saver's database file (its tables made by the saver's setup)."""

    def __init__(self, saver: AsyncSqliteSaver, ttl_seconds: int) -> None:
        self.saver = saver
        self.ttl_seconds = ttl_seconds
        self._next_purge = 0.0

    async def write(self, thread_id: str, run_id: str, events: Sequence[RunEvent],
                    state: RunState) -> None:
        saver = self.saver
        await saver.setup()
        now = time.time()
        last = max((e.id for e in events), default=0)
        async with saver.lock:
            conn = saver.conn
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + _PURGE_EVERY_SECONDS
                cutoff = now - self.ttl_seconds
                await conn.execute(
                    "DELETE FROM run_events WHERE (thread_id, run_id) IN "
                    "(SELECT thread_id, run_id FROM runs WHERE updated_at < ?)", (cutoff,))
                await conn.execute(
                    "DELETE FROM run_cancels WHERE (thread_id, run_id) IN "
                    "(SELECT thread_id, run_id FROM runs WHERE updated_at < ?)", (cutoff,))
                await conn.execute("DELETE FROM runs WHERE updated_at < ?", (cutoff,))
            await conn.executemany(
                "INSERT OR IGNORE INTO run_events (thread_id, run_id, event_id, event, data) "
                "VALUES (?, ?, ?, ?, ?)",
                [(thread_id, run_id, e.id, e.event, e.data) for e in events])
            await conn.execute(
                "INSERT INTO runs (thread_id, run_id, state, last_event_id, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id, run_id) DO UPDATE SET "
                "state = excluded.state, updated_at = excluded.updated_at, "
                "last_event_id = max(runs.last_event_id, excluded.last_event_id)",
                (thread_id, run_id, state.value, last, now))
            await conn.commit()

    async def _info(self, thread_id: str, run_id: str) -> RunInfo | None:
        cursor = await self.saver.conn.execute(
            "SELECT state, last_event_id, updated_at FROM runs "
            "WHERE thread_id = ? AND run_id = ? AND updated_at >= ?",
            (thread_id, run_id, time.time() - self.ttl_seconds))
        row = await cursor.fetchone()
        if row is None:
            return None
        return RunInfo(thread_id, run_id, RunState(row[0]), int(row[1]), float(row[2]))

    async def info(self, thread_id: str, run_id: str) -> RunInfo | None:
        await self.saver.setup()
        async with self.saver.lock:
            return await self._info(thread_id, run_id)

    async def read(self, thread_id: str, run_id: str, after: int
                   ) -> tuple[RunInfo | None, list[RunEvent]]:
        await self.saver.setup()
        async with self.saver.lock:
            info = await self._info(thread_id, run_id)
            if info is None:
                return None, []
            cursor = await self.saver.conn.execute(
                "SELECT event_id, event, data FROM run_events WHERE thread_id = ? "
                "AND run_id = ? AND event_id > ? ORDER BY event_id", (thread_id, run_id, after))
            rows = await cursor.fetchall()
        return info, [RunEvent(int(i), str(e), str(d)) for i, e, d in rows]

    async def request_cancel(self, thread_id: str, run_id: str) -> None:
        await self.saver.setup()
        async with self.saver.lock:
            await self.saver.conn.execute(
                "INSERT OR IGNORE INTO run_cancels (thread_id, run_id) VALUES (?, ?)",
                (thread_id, run_id))
            await self.saver.conn.commit()

    async def cancel_requested(self, thread_id: str, run_id: str) -> bool:
        await self.saver.setup()
        async with self.saver.lock:
            cursor = await self.saver.conn.execute(
                "SELECT 1 FROM run_cancels WHERE thread_id = ? AND run_id = ?",
                (thread_id, run_id))
            return await cursor.fetchone() is not None

    async def delete_thread(self, thread_id: str) -> None:
        """Delete every run of a thread (within the caller's transaction and lock)."""
        for table in ("run_events", "run_cancels", "runs"):
            await self.saver.conn.execute(f"DELETE FROM {table} WHERE thread_id = ?",
                                          (thread_id,))
