"""What the offline model says to a request: which of its parts answers, given the prompt,
the tools and the turn so far.

The offline model has no weights; it is a small, honest policy in parts: keyword routing
(`offline_routing`), tool arguments taken from the question (`offline_arguments`), extractive
answers from tool results (`offline_answers`), and the chat specialist's answers from the
specialists its prompt lists (`offline_chat`). What it cannot do (write SQL, reason over
numbers) it says plainly, naming the settings that enable a real model. It plays the
supervisor's first call as a real model would: seeing every specialist's tools, it either calls
the tool of the specialist whose keywords the question mentions most, or answers as `chat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent.models.offline_answers import answer_from_tools
from agent.models.offline_arguments import is_sql_tool, plan_tool_call, tool_call
from agent.models.offline_chat import (
    REAL_MODEL_HINT,
    Capability,
    chat_answer,
    read_capabilities,
    read_toolbox,
)
from agent.models.offline_routing import choose_route
from agent.specialists import CHAT

NO_SQL = ("it needs a model that writes SQL, and the offline model doesn't. To enable one, "
          f"{REAL_MODEL_HINT}.")


def current_turn(messages: Sequence[BaseMessage]) -> tuple[str, list[ToolMessage]]:
    """The last human question and the tool results that came after it."""
    question: str = ""
    results: list[ToolMessage] = []
    for message in messages:
        if isinstance(message, HumanMessage):
            question, results = message.text, []
        elif isinstance(message, ToolMessage):
            results.append(message)
    return question, results


def _name(tool: dict[str, Any]) -> str:
    return str(tool["function"]["name"])


def first_call(question: str, tools: Sequence[dict[str, Any]], toolbox: dict[str, list[str]],
               capabilities: Sequence[Capability], tool_choice: Any) -> AIMessage:
    """The supervisor's first call: a call of the routed specialist's tool, or the answer as
    `chat` (when it is offered and the call may answer)."""
    may_answer = bool(capabilities) and tool_choice != "required"
    route = choose_route(question, [*toolbox, *([CHAT] if may_answer else [])])
    if route == CHAT:
        return AIMessage(content=chat_answer(question, capabilities))
    own = [t for t in tools if _name(t) in set(toolbox[route])]
    if may_answer and any(is_sql_tool(t) for t in own):
        return AIMessage(content=f"That is a question for @{route}, and offline mode can't "
                         f"answer it: {NO_SQL}")
    call = plan_tool_call(own, question)
    if call is not None:
        return call
    if may_answer or not own:
        return AIMessage(content=f"That is a question for @{route}, but offline mode can't work "
                         f"out how to use its tools for it. For a real model, {REAL_MODEL_HINT}.")
    return tool_call(_name(own[0]), {})


def respond(
    messages: Sequence[BaseMessage],
    tools: Sequence[dict[str, Any]] | None,
    tool_choice: Any,
) -> AIMessage:
    """The offline model's reply to a conversation, given the tools bound to it."""
    question, tool_messages = current_turn(messages)
    tools = list(tools or [])
    capabilities = read_capabilities(messages)
    if capabilities and not tools:  # the chat specialist
        return AIMessage(content=chat_answer(question, capabilities))
    toolbox = read_toolbox(messages)
    if toolbox and tools and not tool_messages:  # the supervisor's first call
        return first_call(question, tools, toolbox, capabilities, tool_choice)
    if tools and tool_choice not in (None, "auto", "none", "required"):
        return _structured_choice(tools[0], question)
    if tool_messages:
        return AIMessage(content=answer_from_tools(question, tool_messages))
    if any(is_sql_tool(t) for t in tools):
        return AIMessage(content=f"Offline mode can't answer this: {NO_SQL}")
    if tools:
        call = plan_tool_call(tools, question)
        if call is not None:
            return call
        names = ", ".join(f"`{_name(t)}`" for t in tools)
        return AIMessage(
            content=f"Offline mode can't work out how to use {names} for this question: that "
            f"needs a real model (for example to write SQL). To enable one, {REAL_MODEL_HINT}."
        )
    return AIMessage(
        content="Offline mode answers only from tool results, and no tool applies here. "
        f"To use a real model, {REAL_MODEL_HINT}."
    )


def _structured_choice(tool: dict[str, Any], question: str) -> AIMessage:
    """A forced call (structured output): fill enum fields by keywords, strings by defaults."""
    function = tool["function"]
    properties = function.get("parameters", {}).get("properties", {})
    args: dict[str, Any] = {}
    for name, schema in properties.items():
        if "enum" in schema:
            args[name] = choose_route(question, list(schema["enum"]))
        elif schema.get("type") == "string":
            args[name] = "chosen offline by keywords"
    return tool_call(function["name"], args)
