"""The LangGraph graph: a supervisor decides who answers each turn, and that specialist answers.

    START -> supervisor -> {docsearch | sqlsearch | apisearch | websearch | chat | unavailable}
    supervisor -> <specialist>_tools            (its first call called that specialist's tool)
    supervisor -> END                            (its first call answered, as chat)
    <specialist> -> <specialist>_tools -> <specialist> ... -> END
    chat -> END

One decision per turn. A forced route (`configurable["specialist"]`) or an @mention decides
without a model call; otherwise the supervisor's first call (`agent.supervisor`) sees every
enabled specialist's tools and either calls one, which selects its specialist and goes straight
to that specialist's tools, or answers as `chat`, streamed from that call. So a routed answer
starts after two model calls and a greeting after one. With `first_call="route"` the supervisor
instead makes the seed design's structured routing call, and the chosen specialist makes its
own first call (the benchmark's baseline).

A specialist loops between its model and its tools until it answers without calling a tool (at
most `MAX_TOOL_ROUNDS` rounds, then it must answer). Calls that only decide or write tool
arguments (the supervisor's first call, the routing call, a specialist's first call of a turn)
carry `decision_options` (a lower reasoning effort); answers the model's own options. A reply's
text streams to the run's token sink or the graph's custom stream as `Token`s while it arrives.
A reply the service's content filter stopped ends the turn with an error, never as an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent import conversation, routing, supervisor
from agent.models.failures import raise_if_filtered
from agent.models.streamed_reply import streamed_reply
from agent.specialists import CHAT, Specialist
from agent.state import BotState
from agent.tool_runner import run_tool_calls

MAX_TOOL_ROUNDS = 5


def _calls_tools(message: object) -> bool:
    return isinstance(message, AIMessage) and bool(
        message.tool_calls or message.invalid_tool_calls)


def _supervisor(model: BaseChatModel, specialists: Mapping[str, Specialist],
                first_call: Literal["act", "route"], decision: Mapping[str, Any]) -> Any:
    enabled = {name: s for name, s in specialists.items() if s.enabled}
    toolbox = supervisor.build_toolbox(specialists)
    acting = None
    if first_call == "act" and toolbox.tools:
        # Without chat a direct answer would have nobody to answer as: a tool must be called.
        choice = None if CHAT in enabled else "required"
        acting = model.bind_tools(list(toolbox.tools), tool_choice=choice, **decision)
    prompt = SystemMessage(toolbox.prompt)

    async def supervise(state: BotState, config: RunnableConfig) -> dict[str, Any]:
        messages = state["messages"]
        requested = routing.requested_specialist(messages, config.get("configurable"))
        if requested:
            return {"route": routing.configured_route(requested, specialists)}
        if len(enabled) == 1:
            return {"route": next(iter(enabled))}
        if acting is not None:
            reply = await streamed_reply(acting, [prompt, *conversation.for_model(messages)])
            raise_if_filtered(reply)
            decided = supervisor.decide(reply, toolbox)
            if decided is not None:
                update: dict[str, Any] = {"route": decided.route}
                if decided.message is not None:
                    update["messages"] = [decided.message]
                return update
        return {"route": await routing.choose(model, specialists, messages, **decision)}

    return supervise


def _unavailable(specialists: Mapping[str, Specialist]) -> Any:
    async def unavailable(state: BotState, config: RunnableConfig) -> dict[str, Any]:
        text = routing.unavailable_answer(specialists, state["messages"],
                                          config.get("configurable"))
        return {"messages": [AIMessage(content=text, name="supervisor")]}

    return unavailable


def _agent(model: BaseChatModel, specialist: Specialist, decision: Mapping[str, Any]) -> Any:
    tools = list(specialist.tools)
    with_tools = model.bind_tools(tools)
    # The turn's first call (after an @mention or a hand-off) only picks a tool and writes its
    # arguments, as a rule: it gets the decision options.
    first = model.bind_tools(tools, **decision) if decision else with_tools
    # After MAX_TOOL_ROUNDS the model must answer. The history then holds tool calls, so the
    # tools stay declared and `tool_choice: "none"` forbids new calls: the request that classic
    # and reasoning deployments both accept (a tool_choice without tools is refused).
    answer_only = model.bind_tools(tools, tool_choice="none")
    prompt = SystemMessage(specialist.prompt)

    async def agent(state: BotState) -> dict[str, Any]:
        messages = state["messages"]
        rounds = conversation.tool_rounds(messages)
        runnable = answer_only if rounds >= MAX_TOOL_ROUNDS else with_tools if rounds else first
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
        results = await run_tool_calls(specialist.name, by_name, last, preview_chars)
        # A call whose arguments were not valid JSON is answered too: the service refuses a
        # history with a tool call left unanswered.
        results += [ToolMessage(content=f"Error: the arguments were not valid JSON "
                                f"({call.get('error') or 'unreadable'}).",
                                tool_call_id=call.get("id") or "", name=call.get("name") or "",
                                status="error") for call in last.invalid_tool_calls]
        return {"messages": results}

    return tools


def _after_agent(tools_node: str) -> Any:
    # Routing functions are coroutines: LangGraph runs a plain function in a worker thread
    # when the graph runs async, a thread hop per edge for a list lookup.
    async def after_agent(state: BotState) -> str:
        return tools_node if _calls_tools(state["messages"][-1]) else END

    return after_agent


async def _route(state: BotState) -> str:
    """The supervisor's decision, as the conditional edge's target: the chosen specialist, or,
    when its first call acted for that specialist, the specialist's tools (or END for an
    answer it gave as chat)."""
    route = str(state["route"])
    last = state["messages"][-1]
    if isinstance(last, AIMessage) and last.name == route:
        return f"{route}_tools" if _calls_tools(last) else END
    return route


def build_graph(
    model: BaseChatModel,
    specialists: Mapping[str, Specialist],
    checkpointer: BaseCheckpointSaver[Any] | None,
    tool_preview_chars: int = 500,
    *,
    decision_options: Mapping[str, Any] | None = None,
    first_call: Literal["act", "route"] = "act",
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the supervisor graph for these specialists (enabled ones get tool nodes,
    a specialist that uses no tools one node). `decision_options`: request options of the
    calls that decide or write tool arguments (`agent.models.factory.decision_options`);
    `first_call`: "act" (decide and act in one call) or "route" (the seed design)."""
    decision = dict(decision_options or {})
    graph = StateGraph(BotState)
    graph.add_node("supervisor", _supervisor(model, specialists, first_call, decision))
    graph.add_node(routing.UNAVAILABLE, _unavailable(specialists))
    graph.add_edge(START, "supervisor")
    graph.add_edge(routing.UNAVAILABLE, END)
    targets = [routing.UNAVAILABLE, END]
    for name, specialist in specialists.items():
        if not specialist.enabled:
            continue
        targets.append(name)
        if not specialist.uses_tools:
            graph.add_node(name, _chat(model, specialist))
            graph.add_edge(name, END)
            continue
        tools_node = f"{name}_tools"
        targets.append(tools_node)
        graph.add_node(name, _agent(model, specialist, decision))
        graph.add_node(tools_node, _tools(specialist, tool_preview_chars))
        graph.add_conditional_edges(name, _after_agent(tools_node), [tools_node, END])
        graph.add_edge(tools_node, name)
    graph.add_conditional_edges("supervisor", _route, targets)
    return graph.compile(checkpointer=checkpointer)
