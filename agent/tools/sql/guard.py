"""The read-only SQL guard: a statement runs only if `sqlglot` parses it as exactly one query.

Refused: anything that is not a single SELECT (or UNION/INTERSECT/EXCEPT of SELECTs), more than
one statement, DML/DDL anywhere in the tree (including data-modifying CTEs), SELECT ... INTO,
row locks (FOR UPDATE), PRAGMA, ATTACH, SET, transaction control, statements sqlglot can only
treat as opaque commands, and every function call that is not on an allow-list of pure
functions (aggregates, window, string, number, date and JSON functions of the common dialects):
an allow-list, not a deny-list, so a side effect nobody thought of (`pg_notify`,
`lo_from_bytea`, `dblink`, `sleep`, user-defined functions) is refused too. Functions are
named as the database will see them: in the SQL regenerated from the parsed tree, which is
exactly what runs (without comments).

This is the first line of defence; the engine contains what runs as well
(`agent/tools/sql/engine.py`, `agent/tools/sql/sqlite_containment.py`): read-only
connections, an SQLite authorizer with the same function allow-list, length and time limits,
PostgreSQL read-only transactions with a statement timeout.
"""

from __future__ import annotations

import logging
import re
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

# Pure functions a read-only query may call, lower case, by the name the database sees.
# Left out on purpose: anything that sleeps, locks, writes, notifies, reads files or other
# servers, changes settings or sequences, and the amplifiers whose one call can take much memory
# or time (randomblob, zeroblob, repeat, replicate, space, lpad, rpad, and printf/format, whose
# width or precision repeats a character up to 2^31 times inside SQLite's time limit checks).
ALLOWED_FUNCTIONS: frozenset[str] = frozenset({
    # aggregates
    "count", "count_big", "sum", "total", "avg", "min", "max", "group_concat", "string_agg",
    "array_agg", "listagg", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop",
    "var_samp", "median", "percentile_cont", "percentile_disc", "mode", "bool_and", "bool_or",
    "every", "any_value", "corr", "covar_pop", "covar_samp", "json_agg", "jsonb_agg",
    "json_group_array", "json_group_object", "json_object_agg", "jsonb_object_agg",
    # window
    "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
    "first_value", "last_value", "nth_value",
    # conditional and types
    "coalesce", "nullif", "ifnull", "isnull", "nvl", "iif", "if", "greatest", "least", "cast",
    "try_cast", "convert", "typeof", "likely", "unlikely", "likelihood",
    # text (including what SQLite runs for LIKE, GLOB and REGEXP)
    "length", "len", "char_length", "character_length", "octet_length", "lower", "upper",
    "lcase", "ucase", "initcap", "trim", "ltrim", "rtrim", "btrim", "substr", "substring",
    "left", "right", "replace", "translate", "reverse", "instr", "strpos", "position",
    "charindex", "locate", "concat", "concat_ws", "split_part", "char",
    "chr", "ascii", "unicode", "hex", "unhex", "quote", "md5", "like", "glob", "regexp",
    "regexp_replace", "regexp_like", "regexp_substr", "regexp_match", "regexp_matches",
    "to_char", "to_number", "string_to_array", "array_to_string",
    # numbers
    "abs", "ceil", "ceiling", "floor", "round", "trunc", "truncate", "mod", "div", "power",
    "pow", "sqrt", "cbrt", "exp", "ln", "log", "log10", "log2", "sign", "pi", "degrees",
    "radians", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "random", "width_bucket",
    # dates and times
    "date", "time", "datetime", "julianday", "strftime", "unixepoch", "timediff", "now",
    "current_date", "current_time", "current_timestamp", "localtime", "localtimestamp",
    "date_trunc", "date_part", "extract", "age", "make_date", "make_timestamp", "to_date",
    "to_timestamp", "justify_days", "dateadd", "datediff", "datename", "datepart",
    "datefromparts", "eomonth", "getdate", "getutcdate", "sysdatetime", "year", "month",
    "day", "hour", "minute", "second", "quarter", "week", "weekofyear", "dayofweek",
    "dayofmonth", "dayofyear", "last_day", "date_format", "date_add", "date_sub",
    "timestampdiff", "timestampadd", "str_to_date", "unix_timestamp", "from_unixtime",
    # JSON and arrays
    "json", "json_extract", "json_array", "json_object", "json_type", "json_valid",
    "json_array_length", "json_value", "json_query", "json_extract_path",
    "json_extract_path_text", "jsonb_extract_path", "jsonb_extract_path_text", "to_json",
    "to_jsonb", "json_build_object", "json_build_array", "jsonb_build_object",
    "json_array_elements", "jsonb_array_elements", "->", "->>", "array_length",
    "cardinality", "unnest", "generate_series",
})

# The name a call is written with at the start of a function's SQL: NAME(, "NAME"(, [NAME](.
_CALL = re.compile(r'\s*(?:"([^"]+)"|`([^`]+)`|\[([^\]]+)\]|([A-Za-z_][\w$.]*))\s*\(')


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
            name = _function_name(node, dialect)
            if name is not None and name not in ALLOWED_FUNCTIONS:
                raise UnsafeSQLError(f"The function {name}() is not allowed: only pure "
                                     "functions (aggregates, window, text, number, date, "
                                     "JSON) may be called.")
    tables = tuple(
        sorted({t.name for t in tree.find_all(exp.Table) if t.name} - _cte_names(tree))
    )
    return CheckedQuery(sql=tree.sql(dialect=dialect, comments=False), tables=tables)


def _function_name(node: exp.Func, dialect: str | None) -> str | None:
    """The function the database will call for `node`, or None if it renders as syntax
    (CASE, `a -> b`, CURRENT_DATE, ...) rather than a call."""
    if isinstance(node, exp.Anonymous):
        name = node.name
    else:
        match = _CALL.match(node.sql(dialect=dialect, comments=False))
        if match is None:
            return None
        name = next(group for group in match.groups() if group)
    return name.rsplit(".", 1)[-1].lower()


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
