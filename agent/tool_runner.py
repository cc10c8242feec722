"""Runs one model turn's tool calls, concurrently, reporting start and end to the stream.

Each call emits `tool_start` / `tool_end` custom stream events (specialist, tool, call id,
arguments, a bounded preview of the result). A failing tool becomes an error `ToolMessage` the
model sees, never a crashed run.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, ToolCall, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.config import get_stream_writer

log = logging.getLogger(__name__)


def preview(value: Any, limit: int) -> str:
    """A bounded text preview of a tool input or output."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


async def _run_one(
    agent: str, tools: Mapping[str, BaseTool], call: ToolCall, preview_chars: int
) -> ToolMessage:
    write = get_stream_writer()
    base = {"agent": agent, "name": call["name"], "tool_call_id": call["id"]}
    write({"kind": "tool_start", **base, "input": preview(call["args"], preview_chars)})
    tool = tools.get(call["name"])
    status: str = "success"
    try:
        if tool is None:
            raise LookupError(f"there is no tool named {call['name']!r}")
        output = await tool.ainvoke(call["args"])
        content = output if isinstance(output, str) else json.dumps(output, default=str)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a tool failure is reported to the model, not raised
        log.warning("tool %s failed", call["name"], exc_info=True)
        status, content = "error", f"Error: {type(exc).__name__}: {exc}"
    write({"kind": "tool_end", **base, "status": status,
           "output": preview(content, preview_chars)})
    return ToolMessage(content=content, tool_call_id=call["id"] or "", name=call["name"],
                       status=status)


async def run_tool_calls(
    agent: str, tools: Mapping[str, BaseTool], message: AIMessage, preview_chars: int
) -> list[ToolMessage]:
    """Run every tool call of `message` concurrently; results in call order."""
    return list(await asyncio.gather(
        *(_run_one(agent, tools, call, preview_chars) for call in message.tool_calls)
    ))
