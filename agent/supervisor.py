"""The supervisor's first call: one model call that both decides who answers and acts.

It declares every enabled specialist's tools at once (`Toolbox`), with a system prompt that
lists the specialists, names the tools of each, and carries the chat persona. The model either
calls a tool, which selects that tool's specialist for the turn, or answers, which is the
`chat` route (its text streams to the client as it arrives, from this same call):

- a tool call: the reply becomes the selected specialist's tool-calling message (`name` = the
  specialist); calls to other specialists' tools in it are dropped (Azure OpenAI refuses a
  history with a tool call left unanswered), and the graph runs that specialist's tools, then
  the specialist answers from the results with its own prompt;
- text only: the reply is the answer, stored with `name="chat"`.

Text the model writes before a tool call has already been streamed: it stays, as the selected
specialist's preamble (stored on its tool-calling message, part of `end`), as text a specialist
writes beside a tool call always has.

Azure OpenAI takes at most 128 tools per request. Past that (apisearch alone may declare 128),
and for a specialist whose tool names clash with another's (the owner of a call must be known
from its name), the specialist is represented by one hand-off tool, `transfer_to_<name>`: calling
it selects the specialist, whose own first call then picks among its tools (one call more for
that specialist only, as in the seed design). Specialists with the most tools are handed off
first. Everything the call sends before the conversation (prompt, tools) depends only on the
configuration, never on the thread, the time or the turn, so the service's prompt cache applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage
from langchain_core.tools import BaseTool

from agent.specialists import CHAT, CHAT_MANNER, NO_SOURCES, Specialist, capability_lines

MAX_TOOLS = 128  # Azure OpenAI refuses a request that declares more
HANDOFF_PREFIX = "transfer_to_"
TOOLS_LABEL = " tools: "  # `- @docsearch tools: search_documents`; the offline model reads it

Tool = BaseTool | dict[str, Any]


@dataclass(frozen=True)
class Toolbox:
    """What the first call declares: tools in specialist order, and who owns each."""

    tools: tuple[Tool, ...]
    owner: Mapping[str, str]  # tool name -> specialist, for tools declared as they are
    handoffs: Mapping[str, str]  # hand-off tool name -> specialist
    prompt: str

    def specialist_of(self, tool_name: str) -> str | None:
        """The specialist a call of this tool selects, if any."""
        return self.owner.get(tool_name) or self.handoffs.get(tool_name)


@dataclass(frozen=True)
class Selection:
    """Who answers the turn, and the reply to store (None: the specialist makes its own
    first call, as after an @mention)."""

    route: str
    message: AIMessage | None = None


def handoff_tool(specialist: Specialist) -> dict[str, Any]:
    """The one tool that stands for a specialist whose own tools are not declared."""
    return {"type": "function", "function": {
        "name": HANDOFF_PREFIX + specialist.name,
        "description": f"Hand the question to @{specialist.name}: {specialist.description} "
                       "It chooses among its own tools and answers.",
        "parameters": {"type": "object", "properties": {}}}}


def _tool_name(tool: Tool) -> str:
    return str(tool.name if isinstance(tool, BaseTool) else tool["function"]["name"])


def _inline(acting: Sequence[Specialist], max_tools: int) -> set[str]:
    """The specialists whose tools are declared as they are (the others are handed off)."""
    reserved = {HANDOFF_PREFIX + s.name for s in acting}
    taken: set[str] = set()
    inline: dict[str, int] = {}
    for specialist in acting:
        names = [tool.name for tool in specialist.tools]
        if len(set(names)) == len(names) and not set(names) & (taken | reserved):
            inline[specialist.name] = len(names)
            taken |= set(names)
    while inline and sum(inline.values()) + len(acting) - len(inline) > max_tools:
        del inline[max(inline, key=lambda name: inline[name])]
    return set(inline)


def supervisor_prompt(specialists: Mapping[str, Specialist], toolbox_lines: str) -> str:
    """The first call's system prompt: when to call a tool, how to answer otherwise."""
    chat = CHAT in specialists and specialists[CHAT].enabled
    otherwise = (
        "2. Otherwise (greetings, thanks, questions about this bot, and questions the "
        "available specialists' sources can't answer), answer the user yourself, without "
        f"calling a tool. You have no sources when you answer yourself: {NO_SOURCES} "
        f"{CHAT_MANNER}" if chat else
        "2. Otherwise call the tool of the specialist that fits best.")
    return (
        "You are a smart bot: a team of specialists who answer questions from their own "
        "sources (documents, databases, APIs, the web), with citations. You read each user "
        "message first and do exactly one of two things, in the context of the "
        "conversation:\n"
        "1. If an available specialist's sources can answer it, call that specialist's tool "
        "(below) with the arguments it needs, and write nothing else: the specialist answers "
        "from the results, with citations. Call the tools of one specialist only; never "
        "answer such a question from memory.\n"
        f"{otherwise}\n\n"
        f"Specialists on this server:\n{capability_lines(specialists.values())}\n\n"
        f"Tools of each available specialist:\n{toolbox_lines}"
    )


def build_toolbox(specialists: Mapping[str, Specialist], max_tools: int = MAX_TOOLS) -> Toolbox:
    """The first call's tools and prompt for these specialists."""
    acting = [s for s in specialists.values() if s.enabled and s.uses_tools]
    inline = _inline(acting, max_tools)
    tools: list[Tool] = []
    owner: dict[str, str] = {}
    handoffs: dict[str, str] = {}
    lines: list[str] = []
    for specialist in acting:
        if specialist.name in inline:
            declared: list[Tool] = list(specialist.tools)
            owner.update({tool.name: specialist.name for tool in specialist.tools})
        else:
            declared = [handoff_tool(specialist)]
            handoffs[HANDOFF_PREFIX + specialist.name] = specialist.name
        tools += declared
        names = ", ".join(_tool_name(tool) for tool in declared)
        lines.append(f"- @{specialist.name}{TOOLS_LABEL}{names}")
    return Toolbox(tuple(tools), owner, handoffs,
                   supervisor_prompt(specialists, "\n".join(lines)))


def decide(reply: AIMessage, toolbox: Toolbox) -> Selection | None:
    """Who a first-call reply selects (see the module doc); None when it calls no tool the
    toolbox knows (the caller then routes another way)."""
    calls = list(reply.tool_calls)
    invalid = list(reply.invalid_tool_calls)
    if not calls and not invalid:
        reply.name = CHAT
        return Selection(CHAT, reply)
    named = [c["name"] for c in calls] + [c.get("name") or "" for c in invalid]
    first = next((name for name in named if toolbox.specialist_of(name)), None)
    route = toolbox.specialist_of(first) if first is not None else None
    if first is None or route is None:
        return None
    if first in toolbox.handoffs:
        return Selection(route)
    kept = [c for c in calls if toolbox.owner.get(c["name"]) == route]
    kept_invalid = [c for c in invalid if toolbox.owner.get(c.get("name") or "") == route]
    extra = {k: v for k, v in reply.additional_kwargs.items() if k != "tool_calls"}
    message = reply.model_copy(update={"tool_calls": kept, "invalid_tool_calls": kept_invalid,
                                       "additional_kwargs": extra, "name": route})
    return Selection(route, message)
