"""The engine sqlsearch opens: read-only on every backend, with the statement time limit.

What each new DBAPI connection runs first (`session_setup`):
- SQLite: the containment of `sqlite_containment` (authorizer, limits; the file `mode=ro`);
- PostgreSQL: `SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY` and
  `statement_timeout`; each transaction is also begun `READ ONLY` (`postgresql_readonly`);
- MySQL/MariaDB: `SET SESSION TRANSACTION READ ONLY`, with `MAX_EXECUTION_TIME` (MySQL) or
  `max_statement_time` (MariaDB);
- SQL Server: no client-side read-only switch (use a `db_datareader` login and
  `ApplicationIntent=ReadOnly`); pyodbc's query timeout is set.

Sync drivers give a SQLAlchemy `Engine` (run on the lane's threads); async drivers (asyncpg,
aioodbc; they need greenlet) an `AsyncEngine` (run on the event loop). The connection pool holds
as many connections as the lane runs queries at once, so no query waits for a connection.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.tools import ToolException
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import NoSuchModuleError

from agent.tools.sql.sqlite_containment import contain_sqlite, read_only_url

if TYPE_CHECKING:  # the asyncio extension needs greenlet; imported only for async drivers
    from sqlalchemy.ext.asyncio import AsyncEngine


def session_setup(backend: str, timeout_seconds: float) -> Callable[[Any], None]:
    """What each new DBAPI connection of `backend` runs first: read-only and time limits."""
    millis = math.ceil(timeout_seconds * 1000)

    def run(dbapi_conn: Any, statements: list[str]) -> None:
        cursor = dbapi_conn.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()

    def setup(dbapi_conn: Any) -> None:
        if backend == "sqlite":
            contain_sqlite(dbapi_conn)
        elif backend == "postgresql":
            run(dbapi_conn, ["SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                             f"SET statement_timeout = {millis}"])
            dbapi_conn.commit()
        elif backend in ("mysql", "mariadb"):
            run(dbapi_conn, ["SET SESSION TRANSACTION READ ONLY"])
            try:  # MySQL counts milliseconds, MariaDB seconds
                run(dbapi_conn, [f"SET SESSION MAX_EXECUTION_TIME = {millis}"])
            except Exception:
                run(dbapi_conn, [f"SET SESSION max_statement_time = {millis / 1000}"])
        elif backend == "mssql" and hasattr(dbapi_conn, "timeout"):
            dbapi_conn.timeout = math.ceil(timeout_seconds)  # pyodbc's query timeout

    return setup


def create_read_only_engine(url: URL, timeout_seconds: float,
                            pool_size: int) -> Engine | AsyncEngine:
    """An engine whose every connection is read-only and time-limited (ToolException for a
    driver that isn't installed). `pool_size`: connections kept (server databases)."""
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"pool_pre_ping": backend != "sqlite"}
    if backend == "sqlite":
        # The stdlib driver, whatever the URL asked for: it can take the authorizer and limits.
        url = read_only_url(url)
    else:
        kwargs.update(pool_size=pool_size, max_overflow=0)
        if backend == "postgresql":
            kwargs["execution_options"] = {"postgresql_readonly": True}
    try:
        is_async = bool(getattr(url.get_dialect(), "is_async", False))
    except NoSuchModuleError as err:
        raise ToolException(f"SQL_DATABASE_URL names an unknown driver: {err}") from err
    engine: Engine | AsyncEngine
    if is_async:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(url, **kwargs)
    else:
        engine = create_engine(url, **kwargs)
    sync = engine if isinstance(engine, Engine) else engine.sync_engine
    setup = session_setup(backend, timeout_seconds)

    @event.listens_for(sync, "connect")
    def _contain(dbapi_conn: Any, _record: Any) -> None:
        setup(dbapi_conn)

    return engine
