"""A node's streamed reply: its text goes on chunk by chunk (to the run's token sink, or else to
the graph's custom stream), and the reply it returns is the one `ainvoke` would have returned.

A one-node LangGraph graph calls `streamed_reply` on the fast Azure OpenAI model, which talks to
the strict stand-in on loopback; the whole bot is run both ways (tokens yielded, tokens sunk) and
must send the same events in the same order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from pydantic import SecretStr

from agent.bot import build_bot
from agent.events import Answer, Token, ToolEvent
from agent.models.factory import build_chat_model
from agent.models.streamed_reply import SINK_KEY, streamed_reply
from agent.settings import Settings
from agent.turns import TurnRequest
from standins.model_service import FakeOpenAI, Turn, fake_openai
from tests.conftest import CORPUS

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


async def test_a_run_with_a_token_sink_sends_tokens_there_not_to_the_stream(
        model: tuple[Any, FakeOpenAI]) -> None:
    runnable, fake = model
    fake.add(Turn(chunks=["one", " two"]))
    sunk: list[str] = []
    custom: list[Any] = []
    async for mode, payload in _graph(runnable).astream(
            {"messages": [HumanMessage("q")]}, {"configurable": {SINK_KEY: sunk.append}},
            stream_mode=["custom", "updates"]):
        if mode == "custom":
            custom.append(payload)
    assert sunk == ["one", " two"]
    assert custom == []


SCRIPT = [Turn(chunks=["Let me look."], tool_calls=[{"name": "search_documents",
                                                      "arguments": {"query": "Moon"}}]),
          Turn(chunks=["The Moon", " is far."])]


@pytest.mark.parametrize("sink", [False, True], ids=["yielded", "sunk"])
async def test_the_bot_sends_the_same_events_in_the_same_order_either_way(
        tmp_path: Path, sink: bool) -> None:
    with fake_openai() as (fake, base_url):
        fake.add(*SCRIPT)
        settings = Settings(model_provider="azure", azure_openai_endpoint=base_url,
                            azure_openai_api_key=SecretStr("k"), model_max_retries=0,
                            docs_dir=CORPUS, data_dir=tmp_path)
        bot = await build_bot(settings)
        try:
            seen: list[Any] = []
            on_token = (lambda text: seen.append(Token(text))) if sink else None
            turn = TurnRequest("t1", "r1", "@docsearch How far is the Moon?")
            async for event in bot.run(turn, on_token=on_token):
                seen.append(event)
        finally:
            await bot.aclose()
    kinds = [e.kind if isinstance(e, ToolEvent) else type(e).__name__ for e in seen]
    assert kinds == ["Token", "tool_start", "tool_end", "Token", "Token", "Answer"]
    assert [e.text for e in seen if isinstance(e, Token)] == ["Let me look.", "The Moon",
                                                              " is far."]
    answer = seen[-1]
    assert isinstance(answer, Answer)
    assert (answer.text, answer.agent) == ("Let me look.The Moon is far.", "docsearch")
    # the model's usage still reaches the turn (callbacks run without LangGraph's token stream)
    assert answer.usage is not None and answer.usage.output_tokens > 0
