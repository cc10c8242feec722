"""A tool call checked before it runs: every check that needs no I/O, in the tool's args model.

Each tool's `args_schema` does all the checking that needs neither the network nor a database:
types, enums and required fields, and the tool's own refusals. `sql_query`'s model runs the SQL
guard and holds the exact statement the engine will run (the SQL regenerated from the checked
parse tree); apisearch's models refuse path parameters that could leave their path segment;
`fetch_page`'s refuses a URL the outbound rules refuse without DNS (scheme, credentials, a
private or metadata IP literal) and `web_search`'s an empty query. What needs I/O (a name's
DNS answers, whether a table exists) is checked when the call runs.
So a call can be checked, and shown to a person as it will run, without running it (issue 24:
a person approves or edits a call first):

    args = prepare_call(tool, {"query": "select state from covid_daily"})
    # {"query": "SELECT state FROM covid_daily"}, or ToolCallRefused("query: Refused: ...")

A refusal raised by an args model is a `ToolCallRefused` (a `ToolException`, not a
`ValueError`, so pydantic passes it on unwrapped): `model_validate` raises it as is, and so
does the tool when the model calls it, which the model sees as a tool error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ValidationError


class ToolCallRefused(ToolException):
    """The call's arguments are refused; the message says why, for a person to read."""


def prepare_call(tool: BaseTool, args: Mapping[str, Any]) -> dict[str, Any]:
    """`args` checked by `tool`'s args model, as the tool will run them (ToolCallRefused if
    refused: the message names each argument at fault and why)."""
    schema = tool.args_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return dict(args)
    try:
        checked = schema.model_validate(dict(args))
    except ValidationError as exc:
        raise ToolCallRefused(describe(exc)) from exc
    return checked.model_dump(exclude_unset=True)


def describe(exc: ValidationError) -> str:
    """A pydantic validation error as one line per problem: `argument: what is wrong`."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "arguments"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems)
