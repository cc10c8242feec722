"""The offline model's tool calls: arguments taken from the question, and which tool fits.

It fills enum fields with a value the question names (so a code like USD goes to its enum),
query-like strings with the question, and other required strings with an upper-case code from
it (a ticker, a state). It never writes SQL: a SQL tool's strings stay empty.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage

from agent.models.offline_routing import strip_mentions
from agent.text import WORD, content_words

QUERY_PARAM_NAMES = frozenset({"query", "q", "question", "search", "text", "keywords", "terms"})


def _enum_value(values: Sequence[Any], question: str) -> Any:
    lowered = {w.lower() for w in WORD.findall(question)}
    for value in values:
        if str(value).lower() in lowered:
            return value
    return None


def is_sql_tool(tool: dict[str, Any]) -> bool:
    """A tool (OpenAI format) that runs or describes SQL."""
    function = tool.get("function", {})
    return "sql" in f"{function.get('name', '')} {function.get('description', '')}".lower()


def _unwrap_optional(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field's schema as pydantic writes it, `{"anyOf": [X, {"type": "null"}]}`,
    as X (keeping its description and default)."""
    for branch in schema.get("anyOf", []) or []:
        if isinstance(branch, dict) and branch.get("type") != "null":
            return {**schema, **branch}
    return schema


def _code_token(question: str, taken: set[str]) -> str | None:
    """An upper-case code in the question (ETH, NY, ...) not already used by another argument."""
    for token in WORD.findall(strip_mentions(question)):
        if token.isupper() and token.isalpha() and 2 <= len(token) <= 10 and token not in taken:
            return str(token)
    return None


def fill_arguments(tool: dict[str, Any], question: str) -> dict[str, Any] | None:
    """Arguments for an OpenAI-format tool taken from the question, or None if it can't.

    Enum fields first (so a code like USD goes to its enum), then query-like strings get the
    question and other required strings an upper-case code from it (a ticker, a state)."""
    params = tool.get("function", {}).get("parameters", {}) or {}
    properties = {n: _unwrap_optional(s) for n, s in (params.get("properties") or {}).items()}
    required = set(params.get("required", []) or [])
    sql_tool = is_sql_tool(tool)
    args: dict[str, Any] = {}
    for name, schema in properties.items():
        if "enum" in schema and (value := _enum_value(schema["enum"], question)) is not None:
            args[name] = value
    taken = {str(v) for v in args.values()}
    for name, schema in properties.items():
        if name in args or "enum" in schema or schema.get("type") != "string" or sql_tool:
            continue
        if name.lower() in QUERY_PARAM_NAMES:
            args[name] = strip_mentions(question)
        elif name in required and (code := _code_token(question, taken)) is not None:
            args[name] = code
            taken.add(code)
    if required - args.keys():
        return None
    return {name: args[name] for name in properties if name in args}


def tool_call(name: str, args: dict[str, Any]) -> AIMessage:
    """A reply that calls one tool."""
    call = {"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "tool_call"}
    return AIMessage(content="", tool_calls=[call])


def plan_tool_call(tools: Sequence[dict[str, Any]], question: str) -> AIMessage | None:
    """A call to the tool whose arguments the question fills best, or None if none fits."""
    best: tuple[int, dict[str, Any], str] | None = None
    qwords = set(content_words(question))
    for tool in tools:
        args = fill_arguments(tool, question)
        if args is None:
            continue
        function = tool["function"]
        about = f"{function['name']} {function.get('description', '')}"
        overlap = len(qwords & set(content_words(about)))
        score = 10 * len(args) + overlap
        if best is None or score > best[0]:
            best = (score, args, function["name"])
    return None if best is None else tool_call(best[2], best[1])
