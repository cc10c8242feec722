"""A thread's messages as the bot builds and reads them: a turn's question (its message id is
the run id), a stateless turn's history, the writes that regenerate the last turn, the stored
messages as clients see them, and the answer in a graph step's update."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    ToolMessage,
)
from langgraph.graph.message import REMOVE_ALL_MESSAGES

from agent.events import ThreadMessage, ToolCall
from agent.turns import TurnRequest

if TYPE_CHECKING:
    from langgraph.types import StateSnapshot


def question_message(turn: TurnRequest) -> HumanMessage:
    """The turn's question; its message id is the run id, so every answer of the thread can
    be traced to its turn (feedback, regenerate)."""
    if turn.question is None:
        raise ValueError("a turn needs a question")
    return HumanMessage(turn.question, id=turn.run_id)


def history_messages(turn: TurnRequest) -> list[BaseMessage]:
    """The conversation a stateless turn brings along."""
    return [HumanMessage(text) if role == "user" else AIMessage(text)
            for role, text in turn.history]


def regenerated(messages: list[BaseMessage], run_id: str) -> list[BaseMessage] | None:
    """The writes that replace the last turn with its question asked again (as run
    `run_id`), or None if the thread has no question. Messages of the last turn are removed
    by id; a turn holding a message without an id (threads of older versions) is rewritten
    whole, once."""
    last = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    if last < 0:
        return None
    again = HumanMessage(messages[last].text, id=run_id)
    replaced = messages[last:]
    if all(m.id for m in replaced):
        return [*(RemoveMessage(id=str(m.id)) for m in replaced), again]
    return [RemoveMessage(id=REMOVE_ALL_MESSAGES), *messages[:last], again]


def state_messages(state: StateSnapshot) -> list[BaseMessage]:
    """The messages of a thread's state snapshot (none if it holds none)."""
    values = state.values if isinstance(state.values, dict) else {}
    return list(values.get("messages") or [])


def conversation_view(messages: Iterable[BaseMessage],
                      include_tools: bool) -> list[ThreadMessage]:
    """Stored messages as the thread shows them (see `agent.bot.Bot.thread`); each carries the
    run id of its turn (its question's message id)."""
    out: list[ThreadMessage] = []
    caller: dict[str, str] = {}  # tool call id -> the specialist that made the call
    run_id: str | None = None
    for m in messages:
        if isinstance(m, HumanMessage):
            run_id = m.id or None
            out.append(ThreadMessage(role="user", content=m.text, run_id=run_id))
        elif isinstance(m, AIMessage) and m.tool_calls:
            caller.update({c["id"] or "": m.name or "" for c in m.tool_calls})
            if include_tools:
                calls = tuple(ToolCall(id=c["id"] or "", name=c["name"], args=dict(c["args"]))
                              for c in m.tool_calls)
                out.append(ThreadMessage(role="assistant", content=m.text, agent=m.name,
                                         tool_calls=calls, run_id=run_id))
        elif isinstance(m, AIMessage):
            if m.text:
                out.append(ThreadMessage(role="assistant", content=m.text, agent=m.name,
                                         run_id=run_id))
        elif isinstance(m, ToolMessage) and include_tools:
            out.append(ThreadMessage(role="tool", content=m.text,
                                     agent=caller.get(m.tool_call_id) or None,
                                     tool_call_id=m.tool_call_id, tool=m.name, run_id=run_id))
    return out


def final_message(update: Any) -> AIMessage | None:
    """The answer in a node's update: an AI message that calls no tool."""
    if not isinstance(update, dict):
        return None
    found: AIMessage | None = None
    for node_update in update.values():
        if isinstance(node_update, dict):
            for message in node_update.get("messages", []) or []:
                if isinstance(message, AIMessage) and not message.tool_calls:
                    found = message
    return found
