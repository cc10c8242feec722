"""Runs one model turn's tool calls, concurrently, reporting start and end to the stream; the
calls that need a person's approval (`agent.approvals`) are decided first.

Each call emits `tool_start` / `tool_end` custom stream events (specialist, tool, call id,
arguments, a bounded preview of the result). A failing tool becomes an error `ToolMessage` the
model sees, never a crashed run.

Approval: before any tool of the round runs, each call that needs it is put to a person with
LangGraph's `interrupt()`, in call order, with its arguments as the tool will run them
(`checked_args`). The run pauses at the first undecided call; resumed with a decision, the node
runs again from the top and `interrupt()` returns the decisions taken so far, in order, until
every call is decided. Only then do the tools run, so a re-run never runs one twice: approved
calls with the arguments shown, edited ones with the person's arguments, declined ones not at
all (their result tells the model so). A call whose arguments the tool refuses anyway, or of a
tool that doesn't exist, is not asked about: it fails as usual. The model's message is kept
with the arguments that ran, and each decided call's result records the decision.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolCall, ToolMessage
from langchain_core.tools import BaseTool, ToolException
from langgraph.config import get_config, get_stream_writer
from langgraph.types import interrupt

from agent.approvals import (
    APPROVALS_KEY,
    CANNOT_ASK,
    DECLINED,
    DECLINED_WITH_MESSAGE,
    RECORD_KEY,
    Asked,
    RunApprovals,
    record,
)
from agent.tools.calls import prepare_call

log = logging.getLogger(__name__)


class ArgumentsRefused(Exception):
    """A call's arguments are refused by its tool; the message says why, for a person."""


def checked_args(tool: BaseTool, args: Mapping[str, Any]) -> dict[str, Any]:
    """`args` as `tool` will run them, checked by its args model with no I/O (for `sql_query`
    the SQL guard, the statement as the engine will run it: `agent.tools.calls`);
    `ArgumentsRefused` naming each argument at fault if refused."""
    try:
        return prepare_call(tool, args)
    except ToolException as exc:  # ToolCallRefused, or another refusal of an args model
        raise ArgumentsRefused(str(exc)) from exc


def preview(value: Any, limit: int) -> str:
    """A bounded text preview of a tool input or output."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass(frozen=True)
class _Plan:
    """One call as it will be settled: run as `call`, or not run (`declined`: what the model
    is told); `decision`: the record of a person's decision on it."""

    call: ToolCall
    declined: str | None = None
    decision: dict[str, str] | None = None


def _decided(call: ToolCall, tool: BaseTool, args: dict[str, Any], answer: Any) -> _Plan:
    """The plan for a call once a person decided (`answer`: the resume value)."""
    answer = answer if isinstance(answer, Mapping) else {}
    kind = str(answer.get("decision", ""))
    decision = record(str(answer.get("interrupt_id", "")), kind, call["id"] or "")
    if kind == "approve":
        return _Plan({**call, "args": args}, decision=decision)
    if kind == "edit":
        try:
            edited = checked_args(tool, answer.get("args") or {})
        except ArgumentsRefused as exc:  # checked before the resume; refused only if the tool
            return _Plan(call, f"Not run: the edited arguments were refused: {exc}", decision)
        return _Plan({**call, "args": edited}, decision=decision)
    message = answer.get("message")
    said = DECLINED_WITH_MESSAGE.format(message=message) if message else DECLINED
    return _Plan(call, said, decision)


def _plan(agent: str, tools: Mapping[str, BaseTool], message: AIMessage) -> list[_Plan]:
    """Every call of `message`, decided: pauses the run (LangGraph's `GraphInterrupt`) at the
    first call that waits for a person's decision."""
    approvals = get_config().get("configurable", {}).get(APPROVALS_KEY)
    if not isinstance(approvals, RunApprovals):
        return [_Plan(call) for call in message.tool_calls]
    plans: list[_Plan] = []
    decided: list[dict[str, str]] = []
    for call in message.tool_calls:
        tool = tools.get(call["name"])
        asks = (approvals.policy.needs(agent, call["name"])
                or (call["id"] is not None and call["id"] == approvals.resumes))
        if tool is None or not asks:
            plans.append(_Plan(call))
            continue
        try:
            args = checked_args(tool, call["args"])
        except ArgumentsRefused:
            plans.append(_Plan(call))  # refused anyway: the tool says why when it runs
            continue
        if not approvals.can_pause:
            plans.append(_Plan(call, CANNOT_ASK))
            continue
        asked = Asked(agent, call["name"], call["id"] or "", args, approvals.run_id,
                      tuple(decided))
        plan = _decided(call, tool, args, interrupt(asked.value()))
        if plan.decision is not None:
            decided.append(plan.decision)
        plans.append(plan)
    return plans


async def _run_one(
    agent: str, tools: Mapping[str, BaseTool], call: ToolCall, preview_chars: int,
    decision: dict[str, str] | None = None,
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
                       status=status, **_kept(decision))


def _kept(decision: dict[str, str] | None) -> dict[str, Any]:
    return {"additional_kwargs": {RECORD_KEY: decision}} if decision is not None else {}


async def _settle(agent: str, tools: Mapping[str, BaseTool], plan: _Plan,
                  preview_chars: int) -> ToolMessage:
    if plan.declined is None:
        return await _run_one(agent, tools, plan.call, preview_chars, plan.decision)
    return ToolMessage(content=plan.declined, tool_call_id=plan.call["id"] or "",
                       name=plan.call["name"], status="error", **_kept(plan.decision))


async def run_tool_calls(
    agent: str, tools: Mapping[str, BaseTool], message: AIMessage, preview_chars: int
) -> list[BaseMessage]:
    """Run every call of `message` concurrently, once each is decided (this may pause the run
    for a person's decision first); the results in call order, after `message` again (same
    id, so it replaces the stored one) when the arguments that ran differ from its own."""
    plans = _plan(agent, tools, message)
    results = await asyncio.gather(*(_settle(agent, tools, p, preview_chars) for p in plans))
    ran = [p.call for p in plans]
    changed = any(p["args"] != c["args"] for p, c in zip(ran, message.tool_calls, strict=True))
    kept: list[BaseMessage] = [message.model_copy(update={"tool_calls": ran})] if changed else []
    return [*kept, *results]
