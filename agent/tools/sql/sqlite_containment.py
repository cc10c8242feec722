"""What SQLite itself lets sqlsearch's connections do, whatever statement reaches it.

Every SQLite connection sqlsearch opens (always the standard library's `sqlite3` driver) gets:
- an authorizer that allows only SELECT, reads of the main database's tables and views (and
  of CTEs), the guard's allow-listed functions, the driver's BEGIN/ROLLBACK and the read-only
  PRAGMAs SQLAlchemy's inspector uses: no ATTACH, VACUUM INTO, temp objects or PRAGMA writes;
- no string or blob over `SQLITE_MAX_BYTES` (`SQLITE_LIMIT_LENGTH`) and no attached database;
- its file opened `mode=ro` (`read_only_url`);
- a progress handler that stops a statement at its deadline (`time_limit`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from agent.tools.sql.guard import ALLOWED_FUNCTIONS

SQLITE_MAX_BYTES = 1_000_000  # SQLITE_LIMIT_LENGTH: the largest string or blob a query makes
# PRAGMAs that take a table name and change nothing (SQLAlchemy's inspector uses them), and
# settings SQLAlchemy reads (without an argument) when it connects.
SQLITE_TABLE_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info",
                                  "index_xinfo", "foreign_key_list"})
SQLITE_SETTING_READS = frozenset({"read_uncommitted"})
PROGRESS_STEPS = 10_000  # SQLite VM instructions between two checks of the deadline


def sqlite_authorizer(action: int, arg1: str | None, arg2: str | None, db_name: str | None,
                      _source: str | None) -> int:
    """SQLite's own check of every statement compiled on our connections: reads of the main
    database (and of CTEs), allow-listed functions, harmless PRAGMAs and the driver's
    BEGIN/ROLLBACK; nothing else."""
    if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE, sqlite3.SQLITE_TRANSACTION):
        return sqlite3.SQLITE_OK  # BEGIN/ROLLBACK: the driver's own, harmless on a read
    if action == sqlite3.SQLITE_READ and db_name in ("main", None):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in ALLOWED_FUNCTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in SQLITE_TABLE_PRAGMAS or (name in SQLITE_SETTING_READS and arg2 is None):
            return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def contain_sqlite(conn: sqlite3.Connection) -> None:
    """Limits and the authorizer on a new SQLite connection."""
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_BYTES)
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.set_authorizer(sqlite_authorizer)


def read_only_url(url: URL) -> URL:
    """The same SQLite database as a read-only `file:` URI through the stdlib driver
    (in-memory ones are left in memory)."""
    url = url.set(drivername="sqlite")
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        return url
    if database.startswith("file:"):
        return url.update_query_dict({"mode": "ro", "uri": "true"})
    uri = Path(database).expanduser().resolve().as_uri()
    return url.set(database=uri).update_query_dict({"mode": "ro", "uri": "true"})


@contextmanager
def time_limit(dbapi_conn: Any, seconds: float) -> Iterator[None]:
    """Stop any statement run on `dbapi_conn` meanwhile once `seconds` have passed (SQLite
    answers `interrupted`); other drivers, which have no progress handler, are left alone."""
    progress = getattr(dbapi_conn, "set_progress_handler", None)
    if progress is None:
        yield
        return
    deadline = time.monotonic() + seconds
    progress(lambda: int(time.monotonic() > deadline), PROGRESS_STEPS)
    try:
        yield
    finally:
        progress(None, 0)
