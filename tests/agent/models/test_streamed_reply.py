"""A node's streamed reply: its text reaches the graph's custom stream chunk by chunk, and the
reply it returns is the one `ainvoke` would have returned.

A one-node LangGraph graph calls `streamed_reply` on the fast Azure OpenAI model, which talks to
the strict stand-in on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from pydantic import SecretStr

from agent.events import Token
from agent.models.factory import build_chat_model
from agent.models.streamed_reply import streamed_reply
from agent.settings import Settings
from tests.support.fake_openai import FakeOpenAI, Turn, fake_openai

TOOLS = [{"type": "function", "function": {
    "name": "search_documents", "description": "Search the documents.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}]


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@pytest.fixture
async def model() -> AsyncIterator[tuple[Any, FakeOpenAI]]:
    with fake_openai() as (fake, base_url):
        closers: list[Any] = []
        settings = Settings(model_provider="azure", azure_openai_endpoint=base_url,
                            azure_openai_api_key=SecretStr("k"), model_max_retries=0)
        yield build_chat_model(settings, closers).bind_tools(TOOLS), fake
        for close in closers:
            await close()


def _graph(model: Any) -> Any:
    async def answer(state: State) -> dict[str, Any]:
        return {"messages": [await streamed_reply(model, state["messages"])]}

    graph = StateGraph(State)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    return graph.compile()


async def test_each_chunk_of_text_is_a_token_as_it_arrives(
        model: tuple[Any, FakeOpenAI]) -> None:
    runnable, fake = model
    fake.add(Turn(chunks=["The Moon", " is far", "\naway."]))
    seen: list[Any] = []
    async for mode, payload in _graph(runnable).astream(
            {"messages": [HumanMessage("How far is the Moon?")]},
            stream_mode=["custom", "updates"]):
        seen.append(payload if mode == "custom" else "update")
    assert seen == [Token("The Moon"), Token(" is far"), Token("\naway."), "update"]


@pytest.mark.parametrize("turn", [
    Turn(chunks=["Answer", " text."]),
    Turn(chunks=["Looking."], tool_calls=[{"name": "search_documents",
                                           "arguments": {"query": "Moon"}}]),
    Turn(chunks=["Cut"], finish_reason="content_filter"),
], ids=["answer", "tool call", "content filter"])
async def test_the_reply_is_the_one_ainvoke_returns(model: tuple[Any, FakeOpenAI],
                                                    turn: Turn) -> None:
    runnable, fake = model
    fake.add(turn, turn)
    question = [HumanMessage("How far is the Moon?")]
    state = await _graph(runnable).ainvoke({"messages": question})
    streamed = state["messages"][-1]
    invoked = await runnable.ainvoke(question)
    assert isinstance(streamed, AIMessage)
    for field in ("content", "usage_metadata", "invalid_tool_calls"):
        assert getattr(streamed, field) == getattr(invoked, field)
    assert [(c["name"], c["args"]) for c in streamed.tool_calls] == [
        (c["name"], c["args"]) for c in invoked.tool_calls]
    assert streamed.response_metadata["finish_reason"] == invoked.response_metadata[
        "finish_reason"] == (turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop"))
