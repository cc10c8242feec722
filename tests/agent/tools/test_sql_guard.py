"""The SQL guard refuses everything but one read-only query, in each dialect we map."""

from __future__ import annotations

import pytest

from agent.tools.sql.guard import UnsafeSQLError, check_select, sqlglot_dialect

REFUSED = [
    ("DELETE FROM covid_daily", "not DELETE"),
    ("UPDATE covid_daily SET death = 0", "not UPDATE"),
    ("INSERT INTO covid_daily (state) VALUES ('XX')", "not INSERT"),
    ("DROP TABLE covid_daily", "not DROP"),
    ("CREATE TABLE t (a INTEGER)", "not CREATE"),
    ("ALTER TABLE covid_daily ADD COLUMN x INTEGER", "not ALTER"),
    ("SELECT 1; DROP TABLE covid_daily", "one statement"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("PRAGMA writable_schema = 1", "not PRAGMA"),
    ("ATTACH DATABASE '/tmp/x.db' AS x", "not ATTACH"),
    ("DETACH DATABASE x", "not DETACH"),
    ("VACUUM", "not VACUUM"),
    ("WITH d AS (DELETE FROM covid_daily RETURNING *) SELECT * FROM d", "DELETE inside"),
    ("WITH u AS (UPDATE covid_daily SET death = 0 RETURNING *) SELECT 1", "UPDATE inside"),
    ("SELECT * INTO copy_table FROM covid_daily", "SELECT ... INTO"),
    ("SELECT * FROM covid_daily FOR UPDATE", "row lock"),
    ("SELECT load_extension('evil')", "load_extension"),
    ("BEGIN", "not"),
    ("", "No SQL statement"),
    (" ; ", "No SQL statement"),
    ("SELEC state FROM covid_daily", "could not be parsed"),
]


@pytest.mark.parametrize(("sql", "reason"), REFUSED)
def test_refuses_everything_but_one_select(sql: str, reason: str) -> None:
    with pytest.raises(UnsafeSQLError, match=reason.replace("(", r"\(").replace(".", r"\.")):
        check_select(sql, "sqlite")


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d"),
        ("postgres", "SELECT pg_sleep(60)"),
        ("postgres", "SELECT * FROM dblink('host=x', 'select 1') AS t(a int)"),
        ("postgres", "SELECT nextval('seq')"),
        ("tsql", "SELECT * INTO #tmp FROM t"),
        ("tsql", "SELECT * FROM OPENROWSET('SQLNCLI', 'Server=x', 'SELECT 1')"),
        ("tsql", "SELECT 1; EXEC xp_cmdshell 'dir'"),
        ("mysql", "SELECT SLEEP(10)"),
    ],
)
def test_refuses_dialect_specific_writes_and_side_effects(dialect: str, sql: str) -> None:
    with pytest.raises(UnsafeSQLError):
        check_select(sql, dialect)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT state, MAX(death) FROM covid_daily GROUP BY state",
        "WITH y AS (SELECT * FROM covid_daily WHERE date < '2021-01-01') SELECT COUNT(*) FROM y",
        "SELECT 1 UNION ALL SELECT 2",
        "SELECT a.state FROM covid_daily AS a JOIN covid_daily AS b ON a.state = b.state",
        "SELECT state FROM covid_daily;",
    ],
)
def test_allows_read_only_queries(sql: str) -> None:
    checked = check_select(sql, "sqlite")
    assert checked.sql.upper().startswith(("SELECT", "WITH"))
    assert ";" not in checked.sql


def test_reports_tables_read_without_ctes() -> None:
    checked = check_select(
        "WITH y AS (SELECT * FROM covid_daily) SELECT * FROM y JOIN states ON 1 = 1", "sqlite"
    )
    assert checked.tables == ("covid_daily", "states")


def test_runs_the_regenerated_statement_without_comments() -> None:
    checked = check_select("SELECT 1 -- */ ; DROP TABLE covid_daily", "sqlite")
    assert checked.sql == "SELECT 1"


def test_maps_sqlalchemy_dialects() -> None:
    assert sqlglot_dialect("mssql") == "tsql"
    assert sqlglot_dialect("postgresql") == "postgres"
    assert sqlglot_dialect("sqlite") == "sqlite"
    assert sqlglot_dialect("somethingelse") is None


@pytest.mark.parametrize(("sql", "dialect"), [
    ("SELECT * FROM t WITH (TABLOCKX, HOLDLOCK)", "tsql"),
    ("SELECT pg_try_advisory_lock(1)", "postgres"),
    ("SELECT pg_advisory_lock_shared(1)", "postgres"),
])
def test_lock_hints_and_advisory_locks_are_refused(sql: str, dialect: str) -> None:
    with pytest.raises(UnsafeSQLError):
        check_select(sql, dialect)
