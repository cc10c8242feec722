"""SQLite contains what runs even when the guard is bypassed (`execute_unchecked`): the
authorizer, the length limit and the time limit, on the real sample database."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from langchain_core.tools import ToolException
from sqlalchemy.exc import DatabaseError

from agent.settings import Settings
from agent.tools import sqlsearch
from agent.tools.covid_db import ensure_covid_db
from agent.tools.sql.database import SqlDatabase
from agent.tools.sql.rows import RESULT_MAX_BYTES
from agent.tools.sqlsearch import make_tools

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def covid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    ensure_covid_db(data_dir)
    return data_dir


@pytest.fixture
async def db(covid_dir: Path) -> AsyncIterator[SqlDatabase]:
    database = SqlDatabase("", data_dir=covid_dir, max_rows=10)
    yield database
    await database.aclose()


async def test_vacuum_into_writes_no_file(db: SqlDatabase, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    with pytest.raises(DatabaseError, match="authorization denied"):  # its inner ATTACH
        await db.execute_unchecked(f"VACUUM INTO '{target}'")
    assert not target.exists()


async def test_attach_creates_no_file(db: SqlDatabase, tmp_path: Path) -> None:
    target = tmp_path / "attached.db"
    with pytest.raises(DatabaseError, match="not authorized"):
        await db.execute_unchecked(f"ATTACH DATABASE '{target}' AS other")
    assert not target.exists()


@pytest.mark.parametrize("statement", [
    "CREATE TEMP TABLE scratch (a INTEGER)",
    "CREATE TEMP VIEW v AS SELECT 1",
    "CREATE TEMP TRIGGER t AFTER INSERT ON covid_daily BEGIN SELECT 1; END",
    "CREATE VIRTUAL TABLE temp.f USING fts5(a)",
    "DROP TABLE covid_daily",
    "INSERT INTO covid_daily (date, state) VALUES ('2020-01-01', 'XX')",
    "ANALYZE",
    "REINDEX",
    "DETACH DATABASE main",
    "SAVEPOINT s",
])
async def test_writes_and_temp_objects_are_refused(db: SqlDatabase, statement: str) -> None:
    with pytest.raises(DatabaseError, match="not authorized"):
        await db.execute_unchecked(statement)


@pytest.mark.parametrize("statement", [
    "PRAGMA query_only = 0",
    "PRAGMA writable_schema = 1",
    "PRAGMA journal_mode = WAL",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA cache_size = -2000000",
    "PRAGMA mmap_size = 1000000000",
    "PRAGMA read_uncommitted = 1",
    "PRAGMA database_list",
])
async def test_pragmas_other_than_table_reads_are_refused(db: SqlDatabase,
                                                          statement: str) -> None:
    with pytest.raises(DatabaseError, match="not authorized"):
        await db.execute_unchecked(statement)


async def test_the_inspectors_table_pragmas_still_work(db: SqlDatabase) -> None:
    info = await db.execute_unchecked("PRAGMA table_info(covid_daily)")
    assert info.rows[0][1] == "date"
    tables = await db.list_tables()
    assert [t["name"] for t in tables] == ["covid_daily"]


@pytest.mark.parametrize("function", [
    "randomblob(10)", "zeroblob(10)", "load_extension('x')", "fts3_tokenizer('simple')",
    "printf('%d', 1)", "format('%d', 1)",
    "sqlite_compileoption_get(0)", "changes()", "last_insert_rowid()",
])
async def test_functions_off_the_allow_list_are_refused(db: SqlDatabase, function: str) -> None:
    with pytest.raises(DatabaseError, match="not authorized"):
        await db.execute_unchecked(f"SELECT {function}")


async def test_allowed_functions_and_recursive_ctes_run(db: SqlDatabase) -> None:
    result = await db.execute_unchecked(
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) "
        "SELECT COUNT(*), SUM(x), round(MAX(x) / 2.0, 1), upper('a'), 'ab' LIKE 'a%', "
        "strftime('%Y', '2020-05-01'), json_extract('{\"a\": 2}', '$.a') FROM n")
    assert result.rows == [[5, 15, 2.5, "A", 1, "2020", 2]]


async def test_an_in_memory_database_is_contained_too(tmp_path: Path) -> None:
    database = SqlDatabase("sqlite://", data_dir=tmp_path, max_rows=5)
    try:
        with pytest.raises(DatabaseError, match="not authorized"):
            await database.execute_unchecked("CREATE TABLE t (a INTEGER)")
        assert (await database.execute_unchecked("SELECT 1 + 1")).rows == [[2]]
    finally:
        await database.aclose()


async def test_an_aiosqlite_url_gets_the_contained_stdlib_driver(tmp_path: Path,
                                                                 covid_dir: Path) -> None:
    database = SqlDatabase(f"sqlite+aiosqlite:///{covid_dir / 'covid.sqlite'}",
                           data_dir=tmp_path, max_rows=5)
    try:
        with pytest.raises(DatabaseError, match="not authorized"):
            await database.execute_unchecked(f"ATTACH '{tmp_path / 'x.db'}' AS x")
        assert (await database.execute_unchecked("SELECT COUNT(*) FROM covid_daily")
                ).rows == [[20780]]
    finally:
        await database.aclose()
    assert not (tmp_path / "x.db").exists()


MEMORY_PROBE = """
import asyncio, json, resource, sys
from pathlib import Path
from agent.tools.sql.database import SqlDatabase

async def main() -> None:
    db = SqlDatabase("", data_dir=Path(sys.argv[1]), max_rows=5)
    await db.execute_unchecked("SELECT 1")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcomes = {}
    for sql in sys.argv[2:]:
        try:
            await db.execute_unchecked(sql)
            outcomes[sql] = "ran"
        except Exception as exc:
            outcomes[sql] = str(getattr(exc, "orig", exc))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    await db.aclose()
    print(json.dumps({"outcomes": outcomes, "grown_kib": grown}))

asyncio.run(main())
"""


def test_huge_values_are_refused_without_memory_growth(covid_dir: Path) -> None:
    # In a fresh process, so its peak memory says what these statements cost.
    doubled = "'" + "x" * 100 + "'"
    for _ in range(22):  # hex() doubles the length: 100 bytes become 400 MB
        doubled = f"hex({doubled})"
    statements = ["SELECT randomblob(400000000)",
                  "SELECT printf('%.*c', 400000000, 'x')",
                  f"SELECT {doubled}",
                  f"SELECT length({doubled})",
                  "SELECT group_concat(hex(hex(hex(date)))) FROM covid_daily"]
    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(covid_dir), *statements],
                         cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    probe = json.loads(out.stdout)
    assert probe["outcomes"][statements[0]] == "not authorized to use function: randomblob"
    assert probe["outcomes"][statements[1]] == "not authorized to use function: printf"
    for sql in statements[2:]:
        assert probe["outcomes"][sql] == "string or blob too big", sql
    assert probe["grown_kib"] < 50_000, probe  # unlimited, the first one alone took 400 MB


async def test_a_result_over_the_byte_budget_is_refused(covid_dir: Path) -> None:
    database = SqlDatabase("", data_dir=covid_dir, max_rows=50)
    tools = {t.name: t for t in make_tools(database)}
    try:
        with pytest.raises(ToolException, match=f"over {RESULT_MAX_BYTES} bytes"):
            await tools["sql_query"].ainvoke({"query": (  # 256 kB a row
                f"SELECT {'hex(' * 17}'ab'{')' * 17} AS big FROM covid_daily LIMIT 40")})
    finally:
        await database.aclose()


async def test_the_time_limit_is_the_setting_and_stops_a_recursive_cte(covid_dir: Path) -> None:
    settings = Settings(data_dir=covid_dir, sql_timeout_seconds=0.3)
    toolset = sqlsearch.build_tools(settings)
    tools = {t.name: t for t in toolset.tools}
    endless = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
               "SELECT MAX(x) FROM c")
    try:
        with pytest.raises(ToolException, match="interrupted"):
            await tools["sql_query"].ainvoke({"query": endless})
        out = json.loads(await tools["sql_query"].ainvoke(
            {"query": "SELECT COUNT(*) FROM covid_daily"}))
    finally:
        for close in toolset.closers:
            await close()
    assert out["rows"] == [[20780]]
