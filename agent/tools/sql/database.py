"""`SqlDatabase`: the one database sqlsearch reads, for the life of the process.

The database is any SQLAlchemy URL in `SQL_DATABASE_URL`; left empty, it is the embedded
sample (the COVID Tracking Project daily state history, built into `<DATA_DIR>/covid.sqlite`
on first use by `agent/tools/covid_db.py`). The engine is created on first use, opened
read-only (`engine`), and every statement runs on the lane (`lane`) on a fresh connection
whose transaction is always rolled back, under the statement time limit. `aclose()` disposes
of the engine and stops the lane's threads.

It runs statements as given: the guard (`guard.check_select`) is the caller's to apply, as the
`sql_query` tool's args model does; tests bypass it on purpose to show the engine's own
containment.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.tools import ToolException
from sqlalchemy import Connection, inspect, literal_column, select, table
from sqlalchemy.engine import URL, CursorResult, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from agent.tools import covid_db
from agent.tools.sql.engine import create_read_only_engine
from agent.tools.sql.lane import QueryLane
from agent.tools.sql.rows import QueryResult, fetch_bounded, jsonable
from agent.tools.sql.sqlite_containment import time_limit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

SAMPLE_ROWS = 3
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_CONCURRENT = 4


class SqlDatabase:
    """One database, opened read-only, that runs statements and describes its tables."""

    def __init__(
        self,
        url: str,
        *,
        data_dir: Path,
        max_rows: int,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
    ) -> None:
        self.is_sample = not url.strip()
        self._raw_url = url.strip()
        self._data_dir = data_dir
        self.max_rows = max_rows
        self.timeout_seconds = timeout_seconds
        self.lane = QueryLane(max_concurrent)
        self._engine: Engine | AsyncEngine | None = None
        self._lock = asyncio.Lock()
        self._url_error = ""
        if self.is_sample:
            self.dialect = "sqlite"
            self.label = covid_db.DB_FILENAME
        else:
            try:
                parsed = make_url(self._raw_url)
            except ArgumentError:
                # Reported on first use, so a typo doesn't stop the whole app from starting.
                self._url_error = "SQL_DATABASE_URL is not a valid SQLAlchemy URL."
                self.dialect, self.label = "unknown", "database"
            else:
                self.dialect = parsed.get_backend_name()
                self.label = Path(parsed.database or self.dialect).name

    # --- connection -------------------------------------------------------------------
    async def _get_engine(self) -> Engine | AsyncEngine:
        if self._url_error:
            raise ToolException(self._url_error)
        async with self._lock:
            if self._engine is None:
                if self.is_sample:
                    path = await self.lane.run_in_thread(
                        lambda: covid_db.ensure_covid_db(self._data_dir), self.timeout_seconds)
                    url = URL.create("sqlite", database=str(path))
                else:
                    url = make_url(self._raw_url)
                self._engine = create_read_only_engine(url, self.timeout_seconds,
                                                       self.lane.max_concurrent)
            return self._engine

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` on the lane, on a fresh connection whose transaction is always rolled back
        (LaneBusy if no slot frees up within the time limit)."""
        engine = await self._get_engine()
        if not isinstance(engine, Engine):
            async def on_loop() -> T:
                async with engine.connect() as aconn:
                    try:
                        return await aconn.run_sync(fn)
                    finally:
                        await aconn.rollback()

            return await self.lane.run_on_loop(on_loop, self.timeout_seconds)

        def in_thread() -> T:
            with engine.connect() as conn:
                try:
                    return fn(conn)
                finally:
                    conn.rollback()

        return await self.lane.run_in_thread(in_thread, self.timeout_seconds)

    async def aclose(self) -> None:
        """Dispose of the engine's connection pool and stop the lane."""
        engine, self._engine = self._engine, None
        self.lane.close()
        if isinstance(engine, Engine):
            engine.dispose()
        elif engine is not None:
            await engine.dispose()

    # --- operations -------------------------------------------------------------------
    async def execute_unchecked(self, sql: str) -> QueryResult:
        """Run one statement WITHOUT the guard (check it first); the read-only
        connection, the time limit and the row and byte bounds apply."""
        return await self.run(lambda conn: self._execute(conn, sql))

    def _execute(self, conn: Connection, sql: str) -> QueryResult:
        with time_limit(conn.connection.dbapi_connection, self.timeout_seconds):
            # No parameters: the driver passes `%` and `?` through as written.
            result = conn.execution_options(stream_results=True, no_parameters=True
                                            ).exec_driver_sql(sql)
            if not result.returns_rows:
                return QueryResult(sql=sql, columns=[], rows=[], truncated=False)
            columns = list(result.keys())
            fetched = fetch_bounded(result, self.max_rows + 1)
            result.close()
        rows = [[jsonable(v) for v in row] for row in fetched[: self.max_rows]]
        return QueryResult(sql=sql, columns=columns, rows=rows,
                           truncated=len(fetched) > self.max_rows)

    async def list_tables(self) -> list[dict[str, str]]:
        """Every table and view in the default schema, with its description if known."""
        def run(conn: Connection) -> list[dict[str, str]]:
            insp = inspect(conn)
            names = [*insp.get_table_names(), *insp.get_view_names()]
            return [{"name": n, "description": self._table_description(conn, n)} for n in names]

        return await self.run(run)

    async def describe_table(self, name: str) -> dict[str, Any]:
        """Columns (type, nullability, description), primary key and a few sample rows."""
        def run(conn: Connection) -> dict[str, Any]:
            insp = inspect(conn)
            known = {*insp.get_table_names(), *insp.get_view_names()}
            match = name if name in known else next(
                (k for k in known if k.lower() == name.strip().lower()), None)
            if match is None:
                raise ToolException(
                    f"No table named {name!r}. Tables: {', '.join(sorted(known)) or 'none'}.")
            notes = covid_db.COLUMN_DESCRIPTIONS if self._is_sample_table(match) else {}
            columns = [
                {
                    "name": c["name"],
                    "type": str(c["type"]),
                    "nullable": bool(c.get("nullable", True)),
                    **({"description": d} if (d := notes.get(c["name"]) or c.get("comment"))
                       else {}),
                }
                for c in insp.get_columns(match)
            ]
            pk = (insp.get_pk_constraint(match) or {}).get("constrained_columns") or []
            sample: CursorResult[Any] = conn.execute(
                select(literal_column("*")).select_from(table(match)).limit(SAMPLE_ROWS))
            return {
                "table": match,
                "description": self._table_description(conn, match),
                "columns": columns,
                "primary_key": list(pk),
                "sample_rows": {
                    "columns": list(sample.keys()),
                    "rows": [[jsonable(v) for v in r] for r in sample.fetchall()],
                },
            }

        return await self.run(run)

    def _is_sample_table(self, name: str) -> bool:
        return self.is_sample and name == covid_db.TABLE

    def _table_description(self, conn: Connection, name: str) -> str:
        if self._is_sample_table(name):
            return covid_db.TABLE_DESCRIPTION
        try:
            text = inspect(conn).get_table_comment(name).get("text")
        except (NotImplementedError, SQLAlchemyError):
            return ""
        return str(text or "")

    def source_for(self, tables: tuple[str, ...]) -> str:
        """What a query's result is cited as."""
        if self.is_sample:
            return covid_db.SOURCE_URL
        return f"sql:{self.label}/{','.join(tables)}" if tables else f"sql:{self.label}"
