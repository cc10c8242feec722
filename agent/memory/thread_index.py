"""The thread index: what a thread list shows of each thread (title, created, updated, owner)
and the feedback people gave its answers, kept beside the checkpoints in the same store.

`ThreadIndex` is what the bot needs: `touch` after each turn (a thread gets its first question
as its title), `get`, `rename`, `page` (a user's threads, newest first, by a keyset cursor),
`forget` (with the thread), and `put_feedback` / `feedback` (one per answer, replaceable).
Listing a user's threads costs what that user's threads cost, never a scan of everyone's: in
SQLite an index on `(owner, updated_at)`; in Cosmos DB one partition per owner
(`agent.memory.cosmos_thread_index`). Owners are `agent.ownership.Owner.key` values; threads
of no signed-in user are indexed under no owner and never listed.

`SqliteThreadIndex` keeps two tables in the thread store's file, on a connection of its own.
This module imports nothing heavy at import time.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import aiosqlite


TITLE_MAX = 200  # characters of a title
FIRST_QUESTION_TITLE = 80  # characters of a question that becomes a new thread's title
_MENTION = re.compile(r"^@[A-Za-z]+\b[\s,:]*")  # "@docsearch, how ..." -> "how ..."
Score = Literal[1, -1]


@dataclass(frozen=True)
class ThreadSummary:
    """One thread as a thread list shows it (times: seconds since the epoch)."""

    thread_id: str
    title: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Feedback:
    """A person's verdict on one answer (the turn `run_id`)."""

    run_id: str
    score: Score
    comment: str | None
    at: float


class BadCursor(ValueError):
    """A listing cursor that this index did not make."""


class ThreadIndex(Protocol):
    """Where thread summaries and feedback live (see the module docstring)."""

    async def touch(self, thread_id: str, owner: str | None, question: str,
                    now: float) -> None: ...

    async def get(self, thread_id: str, owner: str | None) -> ThreadSummary | None: ...

    async def rename(self, thread_id: str, owner: str | None, title: str) -> None: ...

    async def page(self, owner: str, limit: int, cursor: str | None
                   ) -> tuple[list[ThreadSummary], str | None]: ...

    async def forget(self, thread_id: str, owner: str | None) -> None: ...

    async def put_feedback(self, thread_id: str, feedback: Feedback) -> None: ...

    async def feedback(self, thread_id: str) -> dict[str, Feedback]: ...


def title_of(question: str) -> str:
    """A new thread's title: its first question on one line, without a leading @mention,
    starting with a capital, cut at a word near FIRST_QUESTION_TITLE characters."""
    line = " ".join(question.split())
    title = _MENTION.sub("", line, count=1) or line
    title = title[:1].upper() + title[1:]
    if len(title) <= FIRST_QUESTION_TITLE:
        return title
    cut = title.rfind(" ", 0, FIRST_QUESTION_TITLE - 1)
    end = cut if cut > FIRST_QUESTION_TITLE // 2 else FIRST_QUESTION_TITLE - 1
    return title[:end].rstrip() + "…"


def encode_cursor(rows: Sequence[ThreadSummary]) -> str | None:
    """The cursor after a page: its last `updated_at`, and the ids of the page's threads with
    that time (skipped next: a thread updated at the very same instant is never lost)."""
    if not rows:
        return None
    last = rows[-1].updated_at
    ids = [row.thread_id for row in rows if row.updated_at == last]
    raw = json.dumps({"u": last, "ids": ids}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, set[str]]:
    """`(updated_at, ids to skip)` of a cursor, or `BadCursor`."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at, ids = float(data["u"]), data["ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise TypeError(ids)
    except (binascii.Error, ValueError, TypeError, KeyError, RecursionError):
        raise BadCursor("not a cursor this server gave") from None
    return at, set(ids)


class SqliteThreadIndex:
    """`ThreadIndex` in two tables of the SQLite thread store's file."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path) -> AsyncIterator[SqliteThreadIndex]:
        """The index in the database file at `path`, tables created if missing."""
        from agent.memory.sqlite import connect

        async with connect(path) as conn:
            await conn.executescript(
                "CREATE TABLE IF NOT EXISTS thread_index (thread_id TEXT PRIMARY KEY, "
                "owner TEXT, title TEXT NOT NULL, created_at REAL NOT NULL, "
                "updated_at REAL NOT NULL);"
                "CREATE INDEX IF NOT EXISTS thread_index_by_owner "
                "ON thread_index (owner, updated_at DESC);"
                "CREATE TABLE IF NOT EXISTS thread_feedback (thread_id TEXT NOT NULL, "
                "run_id TEXT NOT NULL, score INTEGER NOT NULL, comment TEXT, at REAL NOT NULL, "
                "PRIMARY KEY (thread_id, run_id));")
            await conn.commit()
            yield cls(conn)

    async def _write(self, sql: str, params: Sequence[Any]) -> None:
        await self.conn.execute(sql, params)
        await self.conn.commit()

    async def touch(self, thread_id: str, owner: str | None, question: str,
                    now: float) -> None:
        """Record a turn: a new thread is titled by its first question."""
        await self._write(
            "INSERT INTO thread_index (thread_id, owner, title, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id) DO UPDATE SET "
            "updated_at = excluded.updated_at, owner = excluded.owner",
            (thread_id, owner, title_of(question), now, now))

    async def get(self, thread_id: str, owner: str | None) -> ThreadSummary | None:
        """The thread's summary (None if it has none)."""
        cursor = await self.conn.execute(
            "SELECT thread_id, title, created_at, updated_at FROM thread_index "
            "WHERE thread_id = ?", (thread_id,))
        row = await cursor.fetchone()
        return ThreadSummary(*row) if row else None

    async def rename(self, thread_id: str, owner: str | None, title: str) -> None:
        """Set the thread's title."""
        await self._write("UPDATE thread_index SET title = ? WHERE thread_id = ?",
                          (title, thread_id))

    async def page(self, owner: str, limit: int, cursor: str | None
                   ) -> tuple[list[ThreadSummary], str | None]:
        """Up to `limit` of the owner's threads, newest first, after `cursor`."""
        before, skip = decode_cursor(cursor) if cursor else (float("inf"), set())
        rows = await self.conn.execute_fetchall(
            "SELECT thread_id, title, created_at, updated_at FROM thread_index "
            "WHERE owner = ? AND updated_at <= ? ORDER BY updated_at DESC, thread_id DESC "
            "LIMIT ?", (owner, before, limit + len(skip) + 1))
        found = [ThreadSummary(*row) for row in rows if row[0] not in skip]
        page = found[:limit]
        return page, encode_cursor(page) if len(found) > limit else None

    async def forget(self, thread_id: str, owner: str | None) -> None:
        """Drop the thread's summary and feedback (its thread was deleted)."""
        await self.conn.execute("DELETE FROM thread_feedback WHERE thread_id = ?", (thread_id,))
        await self._write("DELETE FROM thread_index WHERE thread_id = ?", (thread_id,))

    async def put_feedback(self, thread_id: str, feedback: Feedback) -> None:
        """Record (or replace) the feedback on one answer."""
        await self._write(
            "INSERT INTO thread_feedback (thread_id, run_id, score, comment, at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (thread_id, run_id) DO UPDATE SET "
            "score = excluded.score, comment = excluded.comment, at = excluded.at",
            (thread_id, feedback.run_id, feedback.score, feedback.comment, feedback.at))

    async def feedback(self, thread_id: str) -> dict[str, Feedback]:
        """The feedback on the thread's answers, by run id."""
        rows = await self.conn.execute_fetchall(
            "SELECT run_id, score, comment, at FROM thread_feedback WHERE thread_id = ?",
            (thread_id,))
        return {row[0]: Feedback(row[0], row[1], row[2], row[3]) for row in rows}
