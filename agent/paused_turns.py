"""A thread whose turn paused before a tool call for a person's approval (`agent.approvals`):
what waits, and the graph input that goes on from there.

- `paused_in(update)`: the call a run stopped before, as its stream reports it;
- `pending_call(state)`: the call waiting on a thread (LangGraph keeps the interrupt with the
  checkpoint the paused run saved), as the API shows it;
- `resume_input`: a decision checked against what waits (the waiting call's interrupt id, not
  one decided already; edited arguments checked by the tool, for SQL the guard), as
  `Command(resume={interrupt_id: decision})`. LangGraph would apply an answer with a spent id
  to the step's next question (ids of one step fall back to its first), so the id is checked
  here, under the thread's lease, before anything runs;
- `question_input`: a new question on a paused thread, after a result for every call of the
  paused step saying it did not run (so the thread's tool calls all have results), recorded as
  declined by the new question. LangGraph starts a new input from the top and drops the paused
  step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langgraph.types import Command, StateSnapshot

from agent.approvals import (
    NEW_QUESTION,
    RECORD_KEY,
    AlreadyDecided,
    ApprovalPolicy,
    Asked,
    EditRefused,
    NoSuchPendingCall,
    decided_ids,
    record,
)
from agent.events import Interrupt, PendingCall
from agent.thread_messages import state_messages
from agent.tool_runner import ArgumentsRefused, checked_args
from agent.turns import Decision


@dataclass(frozen=True)
class Decided:
    """A decision taken by a turn (for its span): on which call, and what."""

    interrupt_id: str
    agent: str
    tool: str
    tool_call_id: str
    decision: str
    reason: str = ""  # "new_question": declined because a new question was asked


@dataclass(frozen=True)
class TurnInput:
    """A turn's graph input, the decisions it takes, and the call a decision resumes."""

    value: Any
    decisions: tuple[Decided, ...] = ()
    resumes: str | None = None


def _event(interrupt_id: str, asked: Asked) -> Interrupt:
    """A call's approval interrupt as the bot reports it."""
    return Interrupt(interrupt_id=interrupt_id, agent=asked.agent, tool=asked.tool,
                     tool_call_id=asked.tool_call_id, args=asked.args)


def paused_in(update: Any) -> Interrupt | None:
    """The call a run stopped before, from the `__interrupt__` update LangGraph streams
    (stream mode "updates"), if the update is that."""
    interrupts = update.get("__interrupt__") if isinstance(update, dict) else None
    for found in interrupts or ():
        asked = Asked.of(found.value)
        if asked is not None:
            return _event(found.id, asked)
    return None


def _waiting(state: StateSnapshot) -> list[tuple[str, Asked]]:
    found = ((i.id, Asked.of(i.value)) for i in state.interrupts)
    return [(interrupt_id, asked) for interrupt_id, asked in found if asked is not None]


def pending_call(state: StateSnapshot) -> PendingCall | None:
    """The call waiting on the thread whose state this is, if one waits."""
    waiting = _waiting(state)
    if not waiting:
        return None
    interrupt_id, asked = waiting[0]
    return PendingCall(_event(interrupt_id, asked), asked.run_id)


def _records(messages: Sequence[BaseMessage]) -> Iterator[dict[str, Any]]:
    for message in messages:
        kept = message.additional_kwargs.get(RECORD_KEY) if isinstance(message,
                                                                         ToolMessage) else None
        if isinstance(kept, dict):
            yield kept


async def resume_input(graph: Any, config: dict[str, Any], thread_id: str, decision: Decision,
                       policy: ApprovalPolicy) -> TurnInput:
    """The input that resumes the paused run with `decision`; `NoSuchPendingCall` (404),
    `AlreadyDecided` (409) or `EditRefused` (422) if it can't be applied."""
    state: StateSnapshot = await graph.aget_state(config)
    waiting = _waiting(state)
    match = next(((i, a) for i, a in waiting if i == decision.interrupt_id), None)
    if match is None:
        earlier = [*_records(state_messages(state)),
                   *(d for _, a in waiting for d in a.decided)]
        done = decided_ids(earlier).get(decision.interrupt_id)
        if done:
            raise AlreadyDecided(thread_id, decision.interrupt_id, done)
        raise NoSuchPendingCall(thread_id, decision.interrupt_id,
                                waiting[0][0] if waiting else None)
    interrupt_id, asked = match
    value: dict[str, Any] = {"interrupt_id": interrupt_id, "decision": decision.decision}
    if decision.decision == "edit":
        tool = policy.tool(asked.agent, asked.tool)
        if tool is None:
            raise EditRefused(asked.tool, "the tool is not available on this server now")
        try:
            value["args"] = checked_args(tool, decision.args or {})
        except ArgumentsRefused as exc:
            raise EditRefused(asked.tool, str(exc)) from None
    elif decision.decision == "reject" and decision.message:
        value["message"] = decision.message
    taken = Decided(interrupt_id, asked.agent, asked.tool, asked.tool_call_id,
                    decision.decision)
    return TurnInput(Command(resume={interrupt_id: value}), (taken,), asked.tool_call_id)


def _calling(messages: Sequence[BaseMessage], tool_call_id: str) -> AIMessage | None:
    for message in reversed(messages):
        if isinstance(message, AIMessage) and any(c["id"] == tool_call_id
                                                  for c in message.tool_calls):
            return message
    return None


async def question_input(graph: Any, config: dict[str, Any], value: dict[str, Any]
                         ) -> TurnInput:
    """The input of a new question (`value`) on a thread that may be paused: if a call waits,
    first a result for each call of its step saying it did not run."""
    state: StateSnapshot = await graph.aget_state(config)
    waiting = _waiting(state)
    if not waiting:
        return TurnInput(value)
    messages = state_messages(state)
    results: list[ToolMessage] = []
    taken: list[Decided] = []
    for interrupt_id, asked in waiting:
        step = _calling(messages, asked.tool_call_id)
        earlier = {d.get("tool_call_id"): d for d in asked.decided}
        for call in step.tool_calls if step is not None else ():
            call_id = call["id"] or ""
            if call_id == asked.tool_call_id:
                kept = record(interrupt_id, "reject", call_id, reason="new_question")
            elif call_id in earlier:
                kept = record(str(earlier[call_id].get("interrupt_id", "")),
                              str(earlier[call_id].get("decision", "")), call_id,
                              reason="new_question")
            else:
                kept = None
            results.append(ToolMessage(
                content=NEW_QUESTION, tool_call_id=call_id, name=call["name"], status="error",
                additional_kwargs={RECORD_KEY: kept} if kept is not None else {}))
        taken.append(Decided(interrupt_id, asked.agent, asked.tool, asked.tool_call_id,
                             "reject", reason="new_question"))
    return TurnInput({**value, "messages": [*results, *value["messages"]]}, tuple(taken))
