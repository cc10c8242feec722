"""A query's result as sqlsearch returns it: at most so many rows and bytes, values as JSON."""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import ToolException
from sqlalchemy.engine import CursorResult

RESULT_MAX_BYTES = 4_000_000  # text and bytes fetched for one result, at most


@dataclass(frozen=True)
class QueryResult:
    """Rows returned by one statement (at most `max_rows`; `truncated` if there were more)."""

    sql: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


def fetch_bounded(result: CursorResult[Any], max_rows: int) -> list[Any]:
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


def jsonable(value: Any) -> Any:
    """A database value as JSON can carry it (bytes are described, not sent)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)
