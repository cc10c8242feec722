"""The sqlsearch specialist's tools: list tables, describe a table, run one read-only SELECT.

The database is any SQLAlchemy URL in `SQL_DATABASE_URL` (Azure SQL / SQL Server via
`mssql+pyodbc` or `mssql+aioodbc`, PostgreSQL, SQLite, ...). Left empty, it is the embedded
sample: the COVID Tracking Project daily state history, built into `<DATA_DIR>/covid.sqlite`
on first use (`agent/tools/covid_db.py`).

Contained twice over: every statement must pass `sql_guard.check_select` (exactly one SELECT
calling only allow-listed functions), and the engine itself holds what runs, so a statement
that got past the parser still can't write, reach outside or run away:

- SQLite (always the stdlib `sqlite3` driver): files opened `mode=ro`; an authorizer that
  allows only SELECT, reads of the main database's tables and views (and CTEs), the
  allow-listed functions and the read-only PRAGMAs SQLAlchemy's inspector uses (so no ATTACH,
  VACUUM INTO, temp objects or PRAGMA writes); no string or blob over `SQLITE_MAX_BYTES`
  (`SQLITE_LIMIT_LENGTH`); a progress handler that stops a statement after
  `SQL_TIMEOUT_SECONDS`.
- PostgreSQL: sessions default to READ ONLY with `statement_timeout = SQL_TIMEOUT_SECONDS`;
  each transaction is `READ ONLY`; the statement runs through a server-side cursor
  (`stream_results`: `DECLARE ... CURSOR FOR`, which takes exactly one query and no
  data-modifying WITH).
- MySQL/MariaDB: sessions `READ ONLY`, with `MAX_EXECUTION_TIME` / `max_statement_time`.
- SQL Server has no client-side read-only switch: use a login that only has `db_datareader`
  (and `ApplicationIntent=ReadOnly` to reach a read replica); pyodbc's query timeout is set.

Each query runs in its own transaction, which is always rolled back; at most `SQL_MAX_ROWS`
rows and `RESULT_MAX_BYTES` of text come back.

Sync drivers run in a worker thread (`asyncio.to_thread`); async drivers (asyncpg, aioodbc)
run on the event loop. The engine lives for the process (`SqlDatabase.aclose()` disposes it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import math
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field
from sqlalchemy import Connection, create_engine, event, inspect, literal_column, select, table
from sqlalchemy.engine import URL, CursorResult, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from agent.settings import Settings
from agent.tools import covid_db
from agent.tools.results import SearchResult, results_json
from agent.tools.sql_guard import ALLOWED_FUNCTIONS, UnsafeSQLError, check_select, sqlglot_dialect
from agent.tools.toolset import Toolset

if TYPE_CHECKING:  # the asyncio extension needs greenlet; imported only for async drivers
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

SAMPLE_ROWS = 3
CONTENT_ROWS = 20
DEFAULT_TIMEOUT_SECONDS = 30.0
SQLITE_MAX_BYTES = 1_000_000  # SQLITE_LIMIT_LENGTH: the largest string or blob a query makes
RESULT_MAX_BYTES = 4_000_000  # text and bytes fetched for one result, at most
# PRAGMAs that take a table name and change nothing (SQLAlchemy's inspector uses them), and
# settings SQLAlchemy reads (without an argument) when it connects.
SQLITE_TABLE_PRAGMAS = frozenset({"table_info", "table_xinfo", "index_list", "index_info",
                                  "index_xinfo", "foreign_key_list"})
SQLITE_SETTING_READS = frozenset({"read_uncommitted"})


@dataclass(frozen=True)
class QueryResult:
    """Rows returned by one statement (at most `max_rows`; `truncated` if there were more)."""

    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class SqlDatabase:
    """One database, opened read-only, that runs guarded SELECTs and describes its tables."""

    def __init__(
        self,
        url: str,
        *,
        data_dir: Path,
        max_rows: int,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.is_sample = not url.strip()
        self._raw_url = url.strip()
        self._data_dir = data_dir
        self.max_rows = max_rows
        self.timeout_seconds = timeout_seconds
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
                    path = await asyncio.to_thread(covid_db.ensure_covid_db, self._data_dir)
                    url = URL.create("sqlite", database=str(path))
                else:
                    url = make_url(self._raw_url)
                self._engine = _create_read_only_engine(url, self.timeout_seconds)
            return self._engine

    async def _run(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` on a fresh connection whose transaction is always rolled back."""
        engine = await self._get_engine()
        if not isinstance(engine, Engine):
            async with engine.connect() as aconn:
                try:
                    return await aconn.run_sync(fn)
                finally:
                    await aconn.rollback()

        def in_thread() -> T:
            with engine.connect() as conn:
                try:
                    return fn(conn)
                finally:
                    conn.rollback()

        return await asyncio.to_thread(in_thread)

    async def aclose(self) -> None:
        """Dispose of the engine's connection pool."""
        engine, self._engine = self._engine, None
        if isinstance(engine, Engine):
            engine.dispose()
        elif engine is not None:
            await engine.dispose()

    # --- operations -------------------------------------------------------------------
    async def execute_unchecked(self, sql: str) -> QueryResult:
        """Run one statement WITHOUT the guard; the read-only connection still applies."""
        return await self._run(lambda conn: self._execute(conn, sql))

    def _execute(self, conn: Connection, sql: str) -> QueryResult:
        deadline = time.monotonic() + self.timeout_seconds
        raw = conn.connection.dbapi_connection
        progress = getattr(raw, "set_progress_handler", None)
        if progress is not None:  # sqlite3: abort a statement that runs past the deadline
            progress(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            # No parameters: the driver passes `%` and `?` through as written.
            result = conn.execution_options(stream_results=True, no_parameters=True
                                            ).exec_driver_sql(sql)
            if not result.returns_rows:
                return QueryResult(sql=sql, columns=[], rows=[], truncated=False)
            columns = list(result.keys())
            fetched = _fetch_bounded(result, self.max_rows + 1)
            result.close()
        finally:
            if progress is not None:
                progress(None, 0)
        rows = [[_jsonable(v) for v in row] for row in fetched[: self.max_rows]]
        return QueryResult(sql=sql, columns=columns, rows=rows,
                           truncated=len(fetched) > self.max_rows)

    async def list_tables(self) -> list[dict[str, str]]:
        """Every table and view in the default schema, with its description if known."""
        def run(conn: Connection) -> list[dict[str, str]]:
            insp = inspect(conn)
            names = [*insp.get_table_names(), *insp.get_view_names()]
            return [{"name": n, "description": self._table_description(conn, n)} for n in names]

        return await self._run(run)

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
                    "rows": [[_jsonable(v) for v in r] for r in sample.fetchall()],
                },
            }

        return await self._run(run)

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


def _fetch_bounded(result: CursorResult[Any], max_rows: int) -> list[Any]:
    """Up to `max_rows` rows, refusing a result with more than RESULT_MAX_BYTES of data."""
    rows: list[Any] = []
    size = 0
    for row in result:
        size += sum(len(v) for v in row if isinstance(v, str | bytes | bytearray | memoryview))
        if size > RESULT_MAX_BYTES:
            result.close()
            raise ToolException(f"The result is over {RESULT_MAX_BYTES} bytes; select fewer "
                                "or shorter columns, or aggregate.")
        rows.append(row)
        if len(rows) >= max_rows:
            break
    return rows


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


def _session_setup(backend: str, timeout_seconds: float) -> Callable[[Any], None]:
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


def _create_read_only_engine(url: URL, timeout_seconds: float) -> Engine | AsyncEngine:
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"pool_pre_ping": backend != "sqlite"}
    if backend == "sqlite":
        # The stdlib driver, whatever the URL asked for: it can take the authorizer and limits.
        url = _sqlite_read_only(url).set(drivername="sqlite")
    elif backend == "postgresql":
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
    setup = _session_setup(backend, timeout_seconds)

    @event.listens_for(sync, "connect")
    def _contain(dbapi_conn: Any, _record: Any) -> None:
        setup(dbapi_conn)

    return engine


def _sqlite_read_only(url: URL) -> URL:
    """The same SQLite database as a read-only `file:` URI (in-memory ones are left alone)."""
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        return url
    if database.startswith("file:"):
        return url.update_query_dict({"mode": "ro", "uri": "true"})
    uri = Path(database).expanduser().resolve().as_uri()
    return url.set(database=uri).update_query_dict({"mode": "ro", "uri": "true"})


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)


# --- tools -------------------------------------------------------------------------------
class _NoArgs(BaseModel):
    pass


class _DescribeArgs(BaseModel):
    table: str = Field(description="Table or view name, as listed by sql_list_tables.")


class _QueryArgs(BaseModel):
    query: str = Field(description="Exactly one read-only SELECT statement.")


def _wrap_db_errors(err: Exception) -> ToolException:
    if isinstance(err, UnsafeSQLError):
        return ToolException(f"Refused: {err}")
    orig = getattr(err, "orig", None) or err
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]
    return ToolException(f"The database could not run the query: {first}")


def make_tools(db: SqlDatabase) -> list[BaseTool]:
    """The three sqlsearch tools over one database."""

    async def sql_list_tables() -> str:
        try:
            tables = await db.list_tables()
        except ToolException:
            raise
        except (SQLAlchemyError, OSError) as err:
            raise _wrap_db_errors(err) from err
        return json.dumps({"database": db.label, "dialect": db.dialect, "tables": tables},
                          ensure_ascii=False)

    async def sql_describe_table(table: str) -> str:
        try:
            info = await db.describe_table(table)
        except ToolException:
            raise
        except (SQLAlchemyError, OSError) as err:
            raise _wrap_db_errors(err) from err
        return json.dumps(info, ensure_ascii=False)

    async def sql_query(query: str) -> str:
        try:
            checked = check_select(query, sqlglot_dialect(db.dialect))
            result = await db.execute_unchecked(checked.sql)
        except (UnsafeSQLError, SQLAlchemyError, OSError) as err:
            raise _wrap_db_errors(err) from err
        source = db.source_for(checked.tables)
        lines = [" | ".join(result.columns)] + [
            " | ".join("" if v is None else str(v) for v in row)
            for row in result.rows[:CONTENT_ROWS]
        ]
        title = f"SQL result from {', '.join(checked.tables) or db.label}"
        if db.is_sample:
            title += " (The COVID Tracking Project, CC BY 4.0)"
        return results_json(
            [SearchResult(title=title, source=source, content="\n".join(lines))],
            sql=result.sql,
            columns=result.columns,
            rows=result.rows,
            row_count=len(result.rows),
            truncated=result.truncated,
            **({"note": f"Only the first {db.max_rows} rows are shown; aggregate or filter "
                "for the rest."} if result.truncated else {}),
        )

    dialect_hint = f"The database is {db.dialect}; write SQL in that dialect."
    sample_hint = (
        " The database is the COVID Tracking Project sample: table covid_daily, one row per "
        "state per day; `death`, `positive`, ... are cumulative, `*Increase` columns are daily."
        if db.is_sample else ""
    )
    return [
        StructuredTool.from_function(
            coroutine=sql_list_tables,
            name="sql_list_tables",
            description="List the tables and views in the SQL database with their "
            "descriptions. " + dialect_hint + sample_hint,
            args_schema=_NoArgs,
        ),
        StructuredTool.from_function(
            coroutine=sql_describe_table,
            name="sql_describe_table",
            description="Show a table's columns (type, description), primary key and "
            f"{SAMPLE_ROWS} sample rows. Use it before writing a query.",
            args_schema=_DescribeArgs,
        ),
        StructuredTool.from_function(
            coroutine=sql_query,
            name="sql_query",
            description=f"Run exactly one read-only SELECT and return at most {db.max_rows} "
            "rows plus the SQL that ran. Writes, several statements, PRAGMA/ATTACH and "
            "SELECT INTO are refused. Aggregate (GROUP BY, ORDER BY ... LIMIT) rather than "
            "fetching raw rows. " + dialect_hint + sample_hint,
            args_schema=_QueryArgs,
        ),
    ]


def build_tools(settings: Settings) -> Toolset:
    """The sqlsearch tools: over SQL_DATABASE_URL, or the embedded COVID sample if unset; the
    database's engine is closed with the bot."""
    db = SqlDatabase(settings.sql_database_url, data_dir=settings.data_dir,
                     max_rows=settings.sql_max_rows, timeout_seconds=settings.sql_timeout_seconds)
    return Toolset(tuple(make_tools(db)), closers=(db.aclose,))
