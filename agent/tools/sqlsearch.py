"""The sqlsearch specialist's tools: list tables, describe a table, run one read-only SELECT.

The database is `SQL_DATABASE_URL` (any SQLAlchemy URL), or the embedded COVID Tracking
Project sample when it is empty; `agent/tools/sql/` holds how it is opened, contained and
queried. Every statement `sql_query` runs has passed the guard (`sql.guard.check_select`):
exactly one SELECT calling only allow-listed functions, regenerated from its parse tree; the
engine contains what runs as well (read-only connections, SQLite's authorizer, length, time,
row and byte limits). Queries run in their own lane, at most `SQL_MAX_CONCURRENT_QUERIES` at a
time (`sql.lane`). A refusal or a database error is a `ToolException` the model reads.

The guard runs in `sql_query`'s args model (`query_args`), so validating a call's arguments,
with no I/O, refuses what the guard refuses and yields the exact statement that will run:
`agent.tools.calls.prepare_call(tool, args)`.
"""

from __future__ import annotations

import json

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import SQLAlchemyError

from agent.settings import Settings
from agent.tools.calls import ToolCallRefused
from agent.tools.results import SearchResult, results_json
from agent.tools.sql.database import SAMPLE_ROWS, SqlDatabase
from agent.tools.sql.guard import UnsafeSQLError, check_select, sqlglot_dialect
from agent.tools.toolset import Toolset

CONTENT_ROWS = 20  # rows shown in the citable result text (all rows are in `rows`)


class _NoArgs(BaseModel):
    pass


class _DescribeArgs(BaseModel):
    table: str = Field(description="Table or view name, as listed by sql_list_tables.")


def query_args(dialect: str) -> type[BaseModel]:
    """`sql_query`'s args model for a database of `dialect`. Validating runs the guard: a
    refused statement raises `ToolCallRefused` ("Refused: <why>"), and the validated `query` is
    the exact statement the engine will run (regenerated from the checked parse tree, without
    comments), so a person can approve or edit it before it runs (`agent.tools.calls`)."""
    sqlglot_name = sqlglot_dialect(dialect)

    class SqlQueryArgs(BaseModel):
        query: str = Field(description="Exactly one read-only SELECT statement.")

        @field_validator("query")
        @classmethod
        def _guarded(cls, query: str) -> str:
            try:
                return check_select(query, sqlglot_name).sql
            except UnsafeSQLError as err:
                raise ToolCallRefused(f"Refused: {err}") from err

    return SqlQueryArgs


def _wrap_db_errors(err: Exception) -> ToolException:
    if isinstance(err, UnsafeSQLError):
        return ToolCallRefused(f"Refused: {err}")
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
        try:  # `query` passed the guard in the args model; checked again where it runs
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
            args_schema=query_args(db.dialect),
        ),
    ]


def build_tools(settings: Settings) -> Toolset:
    """The sqlsearch tools: over SQL_DATABASE_URL, or the embedded COVID sample if unset; the
    database's engine is closed with the bot."""
    db = SqlDatabase(settings.sql_database_url, data_dir=settings.data_dir,
                     max_rows=settings.sql_max_rows, timeout_seconds=settings.sql_timeout_seconds,
                     max_concurrent=settings.sql_max_concurrent_queries)
    return Toolset(tuple(make_tools(db)), closers=(db.aclose,))
