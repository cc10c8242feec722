"""The read-only SQL guard: a statement runs only if `sqlglot` parses it as exactly one query.

Refused: anything that is not a single SELECT (or UNION/INTERSECT/EXCEPT of SELECTs), more than
one statement, DML/DDL anywhere in the tree (including data-modifying CTEs), SELECT ... INTO,
row locks (FOR UPDATE), PRAGMA, ATTACH, SET, transaction control, statements sqlglot can only
treat as opaque commands, and a short list of functions with side effects or outside access
(pg_sleep, dblink, OPENROWSET, load_extension, ...). What runs is the SQL regenerated from the
parsed tree, so the database executes exactly the statement that was checked.

This is a second line of defence: the connection itself is opened read-only where the engine
allows it (see `agent/tools/sqlsearch.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

# SQLAlchemy dialect name -> sqlglot dialect name.
SQLGLOT_DIALECTS: dict[str, str] = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "mssql": "tsql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "oracle": "oracle",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
}

_FORBIDDEN_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
    exp.TruncateTable, exp.Command, exp.Pragma, exp.Attach, exp.Detach, exp.Into, exp.Lock,
    exp.Transaction, exp.Commit, exp.Rollback, exp.Set, exp.Use, exp.Copy, exp.LoadData,
    exp.Grant, exp.Revoke, exp.Kill, exp.Analyze, exp.Cache, exp.Uncache, exp.Refresh,
    exp.Comment, exp.WithTableHint,
)

# Functions that sleep, write, reach other servers or files, or change session state.
FORBIDDEN_FUNCTIONS: frozenset[str] = frozenset({
    "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer",
    "pg_sleep", "pg_sleep_for", "pg_sleep_until", "pg_read_file", "pg_read_binary_file",
    "pg_ls_dir", "pg_stat_file", "lo_import", "lo_export", "lo_unlink", "dblink",
    "dblink_exec", "dblink_connect", "set_config", "pg_terminate_backend",
    "pg_cancel_backend", "pg_reload_conf", "pg_advisory_lock", "pg_advisory_xact_lock",
    "nextval", "setval", "query_to_xml", "openrowset", "opendatasource", "openquery",
    "openxml", "xp_cmdshell", "sleep", "benchmark", "get_lock", "load_file",
})


# Whole families: PostgreSQL advisory locks outlive the rolled-back transaction.
FORBIDDEN_PREFIXES: tuple[str, ...] = ("pg_advisory", "pg_try_advisory")


class UnsafeSQLError(ValueError):
    """The statement is not a single read-only query (the message says why)."""


@dataclass(frozen=True)
class CheckedQuery:
    """A statement that passed the guard: the SQL to run and the tables it reads."""

    sql: str
    tables: tuple[str, ...]


def sqlglot_dialect(sqlalchemy_dialect: str) -> str | None:
    """The sqlglot dialect for a SQLAlchemy dialect name (None: sqlglot's generic SQL)."""
    return SQLGLOT_DIALECTS.get(sqlalchemy_dialect)


def check_select(sql: str, dialect: str | None = None) -> CheckedQuery:
    """Parse `sql` and return it as one checked read-only query, or raise UnsafeSQLError."""
    try:
        with _quiet_sqlglot():
            statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UnsafeSQLError(f"The SQL could not be parsed: {first_line}") from err
    if not statements:
        raise UnsafeSQLError("No SQL statement was given.")
    if len(statements) > 1:
        raise UnsafeSQLError(
            f"Only one statement may run at a time; got {len(statements)}."
        )
    tree = statements[0]
    if not isinstance(tree, exp.Query):
        raise UnsafeSQLError(
            f"Only SELECT queries are allowed, not {_kind(tree)}."
        )
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise UnsafeSQLError(
                f"Only read-only SELECT queries are allowed; found {_kind(node)} inside it."
            )
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES):
                raise UnsafeSQLError(f"The function {name}() is not allowed.")
    tables = tuple(
        sorted({t.name for t in tree.find_all(exp.Table) if t.name} - _cte_names(tree))
    )
    return CheckedQuery(sql=tree.sql(dialect=dialect, comments=False), tables=tables)


def _cte_names(tree: exp.Expr) -> set[str]:
    return {cte.alias for cte in tree.find_all(exp.CTE) if cte.alias}


def _kind(node: exp.Expr) -> str:
    if isinstance(node, exp.Into):
        return "SELECT ... INTO"
    if isinstance(node, exp.Lock):
        return "row lock (FOR UPDATE/SHARE)"
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    """Silence sqlglot's 'falling back to Command' warnings; the guard reports instead."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
