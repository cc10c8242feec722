"""What each new connection runs first, per engine (a unit: a recording DBAPI connection).

SQLite and PostgreSQL are also tested end to end against real engines
(test_sql_containment.py, test_sql_postgres.py); MySQL/MariaDB and SQL Server have no server
here, so this is what is checked for them.
"""

from __future__ import annotations

import sqlite3

import pytest

from agent.tools.sql.engine import session_setup
from agent.tools.sql.sqlite_containment import sqlite_authorizer


class RecordingConnection:
    """Records statements; refuses those containing `refuse`."""

    def __init__(self, refuse: str = "") -> None:
        self.statements: list[str] = []
        self.commits = 0
        self.refuse = refuse

    def cursor(self) -> RecordingConnection:
        return self

    def execute(self, statement: str) -> None:
        if self.refuse and self.refuse in statement:
            raise RuntimeError(f"unknown variable in {statement!r}")
        self.statements.append(statement)

    def close(self) -> None:
        pass

    def commit(self) -> None:
        self.commits += 1


def test_postgresql_sessions_are_read_only_with_a_statement_timeout() -> None:
    conn = RecordingConnection()
    session_setup("postgresql", 2.5)(conn)
    assert conn.statements == ["SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                               "SET statement_timeout = 2500"]
    assert conn.commits == 1


def test_mysql_sessions_are_read_only_with_max_execution_time() -> None:
    conn = RecordingConnection()
    session_setup("mysql", 2.5)(conn)
    assert conn.statements == ["SET SESSION TRANSACTION READ ONLY",
                               "SET SESSION MAX_EXECUTION_TIME = 2500"]


def test_mariadb_gets_max_statement_time_in_seconds() -> None:
    conn = RecordingConnection(refuse="MAX_EXECUTION_TIME")
    session_setup("mariadb", 2.5)(conn)
    assert conn.statements == ["SET SESSION TRANSACTION READ ONLY",
                               "SET SESSION max_statement_time = 2.5"]


def test_sql_server_gets_the_pyodbc_query_timeout() -> None:
    class PyodbcLike(RecordingConnection):
        timeout = 0

    conn = PyodbcLike()
    session_setup("mssql", 2.5)(conn)
    assert conn.timeout == 3 and conn.statements == []


def test_sqlite_connections_get_the_authorizer_and_limits() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        session_setup("sqlite", 1.0)(conn)
        assert conn.getlimit(sqlite3.SQLITE_LIMIT_LENGTH) == 1_000_000
        assert conn.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED) == 0
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            conn.execute("CREATE TABLE t (a INTEGER)")
    finally:
        conn.close()


@pytest.mark.parametrize(("action", "arg1", "arg2", "db", "allowed"), [
    (sqlite3.SQLITE_SELECT, None, None, None, True),
    (sqlite3.SQLITE_READ, "covid_daily", "death", "main", True),
    (sqlite3.SQLITE_READ, "cte", "", None, True),
    (sqlite3.SQLITE_READ, "t", "a", "temp", False),
    (sqlite3.SQLITE_READ, "t", "a", "other", False),
    (sqlite3.SQLITE_FUNCTION, None, "count", None, True),
    (sqlite3.SQLITE_FUNCTION, None, "COUNT", None, True),
    (sqlite3.SQLITE_FUNCTION, None, "randomblob", None, False),
    (sqlite3.SQLITE_PRAGMA, "table_info", "t", None, True),
    (sqlite3.SQLITE_PRAGMA, "read_uncommitted", None, None, True),
    (sqlite3.SQLITE_PRAGMA, "read_uncommitted", "1", None, False),
    (sqlite3.SQLITE_PRAGMA, "query_only", "0", None, False),
    (sqlite3.SQLITE_ATTACH, "x.db", None, None, False),
    (sqlite3.SQLITE_CREATE_TEMP_TABLE, "t", None, "temp", False),
    (sqlite3.SQLITE_INSERT, "t", None, "main", False),
    (sqlite3.SQLITE_TRANSACTION, "BEGIN", None, None, True),
])
def test_the_authorizer_decides(action: int, arg1: str | None, arg2: str | None,
                                db: str | None, allowed: bool) -> None:
    expected = sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY
    assert sqlite_authorizer(action, arg1, arg2, db, None) == expected
