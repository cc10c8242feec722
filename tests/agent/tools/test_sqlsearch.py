"""The sqlsearch tools over real SQLite: answers, refusals, and a really read-only connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langchain_core.tools import BaseTool, ToolException
from sqlalchemy import Connection
from sqlalchemy.exc import DatabaseError, OperationalError

from agent.settings import Settings
from agent.tools import sqlsearch
from agent.tools.covid_db import ensure_covid_db
from agent.tools.results import parse_results
from agent.tools.sql.database import SqlDatabase
from agent.tools.sql.sqlite_containment import sqlite_authorizer
from agent.tools.sqlsearch import make_tools

MOST_DEATHS_2020 = (
    "SELECT state, MAX(death) AS deaths_2020 FROM covid_daily "
    "WHERE date <= '2020-12-31' GROUP BY state ORDER BY deaths_2020 DESC LIMIT 1"
)


@pytest.fixture(scope="module")
def covid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    ensure_covid_db(data_dir)  # built once for the module; each test opens it read-only
    return data_dir


@pytest.fixture
async def db(covid_dir: Path) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase("", data_dir=covid_dir, max_rows=10)
    yield database
    await database.aclose()


@pytest.fixture
def tools(db: SqlDatabase) -> dict[str, BaseTool]:
    return {t.name: t for t in make_tools(db)}


async def test_answers_which_state_had_the_most_deaths_in_2020(
    tools: dict[str, BaseTool],
) -> None:
    out = json.loads(await tools["sql_query"].ainvoke({"query": MOST_DEATHS_2020}))
    assert out["rows"] == [["NY", 30040]]
    assert out["columns"] == ["state", "deaths_2020"]
    assert out["sql"] == MOST_DEATHS_2020
    assert out["truncated"] is False
    # Summing the daily increases over 2020 agrees with the cumulative column.
    by_sum = json.loads(await tools["sql_query"].ainvoke({"query": (
        "SELECT state, SUM(deathIncrease) AS d FROM covid_daily "
        "WHERE date BETWEEN '2020-01-01' AND '2020-12-31' GROUP BY state ORDER BY d DESC LIMIT 1"
    )}))
    assert by_sum["rows"] == [["NY", 30040]]
    results = parse_results(json.dumps(out))
    assert results[0].source == "https://covidtracking.com/data"
    assert "NY | 30040" in results[0].content


async def test_lists_and_describes_tables_for_the_model(tools: dict[str, BaseTool]) -> None:
    listed = json.loads(await tools["sql_list_tables"].ainvoke({}))
    assert listed["dialect"] == "sqlite"
    assert [t["name"] for t in listed["tables"]] == ["covid_daily"]
    assert "CUMULATIVE" in listed["tables"][0]["description"]

    described = json.loads(await tools["sql_describe_table"].ainvoke({"table": "COVID_DAILY"}))
    columns = {c["name"]: c for c in described["columns"]}
    assert len(columns) == 41
    assert columns["death"]["type"] == "INTEGER"
    assert "CUMULATIVE" in columns["death"]["description"]
    assert "New deaths" in columns["deathIncrease"]["description"]
    assert described["primary_key"] == ["date", "state"]
    assert len(described["sample_rows"]["rows"]) == 3
    assert described["sample_rows"]["columns"][:2] == ["date", "state"]


async def test_describing_an_unknown_table_names_the_real_ones(
    tools: dict[str, BaseTool],
) -> None:
    with pytest.raises(ToolException, match=r"No table named 'nope'.*covid_daily"):
        await tools["sql_describe_table"].ainvoke({"table": "nope"})


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("UPDATE covid_daily SET death = 0", "not UPDATE"),
        ("DELETE FROM covid_daily", "not DELETE"),
        ("INSERT INTO covid_daily (date, state) VALUES ('2020-01-01', 'XX')", "not INSERT"),
        ("DROP TABLE covid_daily", "not DROP"),
        ("SELECT 1; DELETE FROM covid_daily", "one statement"),
        ("PRAGMA query_only = 0", "not PRAGMA"),
        ("ATTACH DATABASE 'other.db' AS other", "not ATTACH"),
        ("WITH gone AS (DELETE FROM covid_daily RETURNING *) SELECT * FROM gone", "DELETE"),
        ("SELECT * INTO backup FROM covid_daily", "INTO"),
        ("SELEKT * FROM covid_daily", "could not be parsed"),
    ],
)
async def test_sql_query_refuses_with_a_clear_tool_error(
    tools: dict[str, BaseTool], covid_dir: Path, query: str, reason: str
) -> None:
    with pytest.raises(ToolException, match=rf"Refused: .*{reason}"):
        await tools["sql_query"].ainvoke({"query": query})
    with contextlib.closing(sqlite3.connect(covid_dir / "covid.sqlite")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM covid_daily").fetchone()[0] == 20780


async def test_the_connection_is_read_only_even_without_the_guard(
    db: SqlDatabase, covid_dir: Path
) -> None:
    for statement in ("UPDATE covid_daily SET death = 0",
                      "DELETE FROM covid_daily",
                      "CREATE TABLE evil (a INTEGER)"):
        with pytest.raises(DatabaseError, match="not authorized"):  # the authorizer
            await db.execute_unchecked(statement)

    def without_authorizer(conn: Connection) -> None:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        raw.set_authorizer(None)
        try:
            conn.exec_driver_sql("DELETE FROM covid_daily")
        finally:
            raw.set_authorizer(sqlite_authorizer)

    with pytest.raises(OperationalError, match="readonly database"):  # and mode=ro under it
        await db.run(without_authorizer)
    with contextlib.closing(sqlite3.connect(covid_dir / "covid.sqlite")) as conn:
        assert conn.execute("SELECT MAX(death) FROM covid_daily").fetchone()[0] > 0


async def test_a_user_sqlite_url_is_opened_read_only_too(tmp_path: Path) -> None:
    path = tmp_path / "mine.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items (name) VALUES (?)", [("a",), ("b",), ("c",)])
        conn.commit()
    database = SqlDatabase(f"sqlite:///{path}", data_dir=tmp_path, max_rows=2)
    try:
        with pytest.raises(DatabaseError, match="not authorized"):
            await database.execute_unchecked("DELETE FROM items")
        tools = {t.name: t for t in make_tools(database)}
        out = json.loads(await tools["sql_query"].ainvoke(
            {"query": "SELECT name FROM items ORDER BY id"}))
    finally:
        await database.aclose()
    assert out["rows"] == [["a"], ["b"]]
    assert out["truncated"] is True and "first 2 rows" in out["note"]
    assert out["results"][0]["source"] == "sql:mine.db/items"


async def test_rows_are_limited_and_truncation_is_reported(tools: dict[str, BaseTool]) -> None:
    out = json.loads(await tools["sql_query"].ainvoke({"query": "SELECT * FROM covid_daily"}))
    assert len(out["rows"]) == 10 and out["row_count"] == 10
    assert out["truncated"] is True


async def test_database_errors_become_tool_errors(tools: dict[str, BaseTool]) -> None:
    with pytest.raises(ToolException, match="could not run the query: no such column"):
        await tools["sql_query"].ainvoke({"query": "SELECT no_such_column FROM covid_daily"})


async def test_concurrent_queries_share_one_engine(tools: dict[str, BaseTool]) -> None:
    outs = await asyncio.gather(*[
        tools["sql_query"].ainvoke({"query": f"SELECT COUNT(*) AS n FROM covid_daily "
                                             f"WHERE deathIncrease > {i}"})
        for i in range(8)
    ])
    counts = [json.loads(o)["rows"][0][0] for o in outs]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]


async def test_a_bad_url_fails_on_use_not_at_startup(tmp_path: Path) -> None:
    tools = {t.name: t for t in make_tools(SqlDatabase("not a url", data_dir=tmp_path,
                                                       max_rows=5))}
    with pytest.raises(ToolException, match="not a valid SQLAlchemy URL"):
        await tools["sql_list_tables"].ainvoke({})


async def test_build_tools_defaults_to_the_embedded_sample(covid_dir: Path) -> None:
    toolset = sqlsearch.build_tools(Settings(data_dir=covid_dir, sql_max_rows=3))
    tools = toolset.tools
    assert [t.name for t in tools] == ["sql_list_tables", "sql_describe_table", "sql_query"]
    assert all(t.coroutine is not None for t in tools if hasattr(t, "coroutine"))
    assert "covid_daily" in tools[2].description and "at most 3 rows" in tools[2].description
    out = json.loads(await tools[2].ainvoke({"query": MOST_DEATHS_2020}))
    assert out["rows"][0][0] == "NY"
    [close] = toolset.closers  # the engine, disposed of with the bot
    database = close.__self__  # type: ignore[attr-defined]
    assert database._engine is not None
    await close()
    assert database._engine is None


async def test_a_runaway_sqlite_query_is_stopped_at_sql_timeout_seconds(covid_dir: Path) -> None:
    toolset = sqlsearch.build_tools(
        Settings(data_dir=covid_dir, sql_max_rows=5, sql_timeout_seconds=0.2))
    tools = {t.name: t for t in toolset.tools}
    database = toolset.closers[0].__self__  # type: ignore[attr-defined]
    assert database.timeout_seconds == 0.2
    endless = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
               "SELECT COUNT(*) FROM c")
    try:
        with pytest.raises(ToolException, match="interrupted"):
            await tools["sql_query"].ainvoke({"query": endless})
        # The connection is usable again afterwards (the handler was cleared).
        out = json.loads(await tools["sql_query"].ainvoke(
            {"query": "SELECT COUNT(*) FROM covid_daily"}))
    finally:
        await database.aclose()
    assert out["rows"] == [[20780]]
