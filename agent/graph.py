"""The LangGraph graph: a supervisor routes each turn to one specialist, which answers.

    START -> supervisor -> {docsearch | sqlsearch | apisearch | websearch | chat | unavailable}
    <specialist> -> <specialist>_tools -> <specialist> ... -> END
    chat -> END

One routing decision per turn; a specialist loops between its model and its tools until it
answers without calling a tool (at most `MAX_TOOL_ROUNDS` rounds, then it must answer). `chat`
(a specialist that uses no tools) answers from the model in one step. A specialist's reply
streams its text to the graph's custom stream as `Token`s while it arrives. A reply the
service's content filter stopped ends the turn with an error, never as an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, SystemMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent import conversation, routing
from agent.models.failures import raise_if_filtered
from agent.models.streamed_reply import streamed_reply
from agent.specialists import Specialist
from agent.state import BotState
from agent.tool_runner import run_tool_calls

MAX_TOOL_ROUNDS = 5


def _supervisor(model: BaseChatModel, specialists: Mapping[str, Specialist]) -> Any:
    async def supervisor(state: BotState) -> dict[str, Any]:
        return {"route": await routing.choose(model, specialists, state["messages"])}

    return supervisor


def _unavailable(specialists: Mapping[str, Specialist]) -> Any:
    async def unavailable(state: BotState) -> dict[str, Any]:
        text = routing.unavailable_answer(specialists, state["messages"])
        return {"messages": [AIMessage(content=text, name="supervisor")]}

    return unavailable


def _agent(model: BaseChatModel, specialist: Specialist) -> Any:
    tools = list(specialist.tools)
    with_tools = model.bind_tools(tools)
    # After MAX_TOOL_ROUNDS the model must answer. The history then holds tool calls, so the
    # tools stay declared and `tool_choice: "none"` forbids new calls: the request that classic
    # and reasoning deployments both accept (a tool_choice without tools is refused).
    answer_only = model.bind_tools(tools, tool_choice="none")
    prompt = SystemMessage(specialist.prompt)

    async def agent(state: BotState) -> dict[str, Any]:
        messages = state["messages"]
        limit_reached = conversation.tool_rounds(messages) >= MAX_TOOL_ROUNDS
        runnable = answer_only if limit_reached else with_tools
        reply = await streamed_reply(runnable, [prompt, *conversation.for_model(messages)])
        raise_if_filtered(reply)
        reply.name = specialist.name
        return {"messages": [reply]}

    return agent


def _chat(model: BaseChatModel, specialist: Specialist) -> Any:
    prompt = SystemMessage(specialist.prompt)

    async def chat(state: BotState) -> dict[str, Any]:
        reply = await streamed_reply(model, [prompt, *conversation.for_model(state["messages"])])
        raise_if_filtered(reply)
        reply.name = specialist.name
        return {"messages": [reply]}

    return chat


def _tools(specialist: Specialist, preview_chars: int) -> Any:
    by_name = {tool.name: tool for tool in specialist.tools}

    async def tools(state: BotState) -> dict[str, Any]:
        last = state["messages"][-1]
        assert isinstance(last, AIMessage)
        return {"messages": await run_tool_calls(specialist.name, by_name, last, preview_chars)}

    return tools


def _after_agent(tools_node: str) -> Any:
    # Routing functions are coroutines: LangGraph runs a plain function in a worker thread
    # when the graph runs async, a thread hop per edge for a list lookup.
    async def after_agent(state: BotState) -> str:
        last = state["messages"][-1]
        return tools_node if isinstance(last, AIMessage) and last.tool_calls else END

    return after_agent


async def _route(state: BotState) -> str:
    """The supervisor's decision, as the conditional edge's target."""
    return str(state["route"])


def build_graph(
    model: BaseChatModel,
    specialists: Mapping[str, Specialist],
    checkpointer: BaseCheckpointSaver[Any] | None,
    tool_preview_chars: int = 500,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the supervisor graph for these specialists (enabled ones get tool nodes,
    a specialist that uses no tools one node)."""
    graph = StateGraph(BotState)
    graph.add_node("supervisor", _supervisor(model, specialists))
    graph.add_node(routing.UNAVAILABLE, _unavailable(specialists))
    graph.add_edge(START, "supervisor")
    graph.add_edge(routing.UNAVAILABLE, END)
    targets = [routing.UNAVAILABLE]
    for name, specialist in specialists.items():
        if not specialist.enabled:
            continue
        targets.append(name)
        if not specialist.uses_tools:
            graph.add_node(name, _chat(model, specialist))
            graph.add_edge(name, END)
            continue
        tools_node = f"{name}_tools"
        graph.add_node(name, _agent(model, specialist))
        graph.add_node(tools_node, _tools(specialist, tool_preview_chars))
        graph.add_conditional_edges(name, _after_agent(tools_node), [tools_node, END])
        graph.add_edge(tools_node, name)
    graph.add_conditional_edges("supervisor", _route, targets)
    return graph.compile(checkpointer=checkpointer)
