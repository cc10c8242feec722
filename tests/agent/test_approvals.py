"""Approvals in the bot itself (`agent.approvals`, `agent.tool_runner`, `agent.paused_turns`):
the real bot (graph, SQLite threads, local docs index) on the Azure OpenAI stand-in, which
scripts the model's tool calls, with spans going to an in-memory exporter.

Asserted: APPROVE_TOOLS names are checked when the bot is built (the message lists the valid
ones) and malformed values when the settings are read; two calls of one round that need
approval are asked about one after the other, and no tool of the round runs before both are
decided (then each as decided); the turn span says `interrupted` and carries one event per
pause and per decision (a new question's decline included), with no arguments unless content
capture is on; a stateless turn can't wait, so such a call is declined and the model told why.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError

from agent.approvals import CANNOT_ASK
from agent.bot import Bot, build_bot
from agent.events import Answer, BotEvent, Interrupt, ToolEvent
from agent.settings import Settings
from agent.telemetry.tracer import TurnTracer
from agent.turns import Decision, TurnRequest
from standins.model_service import FakeOpenAI, Turn, fake_openai
from tests.conftest import CORPUS

# One event loop for the module: langchain-openai shares one async HTTP client per base URL.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, str, Path]]:
    with fake_openai() as (model, url):
        yield model, url, tmp_path_factory.mktemp("approvals-bot")
        assert model.refusals == [], model.refusals


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(azure: tuple[FakeOpenAI, str, Path]) -> AsyncIterator[tuple[Bot, FakeOpenAI,
                                                                          InMemorySpanExporter]]:
    model, url, data_dir = azure
    settings = Settings(model_provider="azure", azure_openai_endpoint=url,
                        azure_openai_chat_deployment="chat", azure_openai_api_key="k",
                        model_max_retries=0, docs_dir=CORPUS, data_dir=data_dir,
                        approve_tools="search_documents")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    built = await build_bot(settings)
    built.tracer = TurnTracer(settings, tracer_provider=provider)
    yield built, model, exporter
    await built.aclose()
    provider.shutdown()


def search(call_id: str, query: str) -> dict[str, Any]:
    return {"id": call_id, "name": "search_documents", "arguments": {"query": query}}


async def run(bot: Bot, **turn: Any) -> list[BotEvent]:
    return [event async for event in bot.run(TurnRequest(run_id=str(uuid.uuid4()), **turn))]


def turn_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans()
            if (s.attributes or {}).get("gen_ai.operation.name") == "invoke_agent"]


def events_of(span: ReadableSpan) -> list[tuple[str, dict[str, Any]]]:
    return [(e.name, dict(e.attributes or {})) for e in span.events]


async def test_unknown_names_stop_the_build_naming_the_valid_ones(tmp_path: Path) -> None:
    settings = Settings(model_provider="offline", docs_dir=CORPUS, data_dir=tmp_path,
                        approve_tools="sqlsearch,sql_querry,chat")
    with pytest.raises(ValueError) as refused:
        await build_bot(settings)
    message = str(refused.value)
    assert message.startswith("APPROVE_TOOLS: 'sql_querry', 'chat' is neither a specialist "
                              "with tools nor a tool of this bot. Valid: the specialists "
                              "apisearch, docsearch, sqlsearch, websearch; the tools ")
    assert "sql_query" in message and "search_documents" in message


async def test_malformed_values_are_refused_when_the_settings_are_read() -> None:
    assert Settings(approve_tools=" sqlsearch , sql_query ").approval_names == (
        "sqlsearch", "sql_query")
    assert Settings(approve_tools="  ").approval_names == ()
    with pytest.raises(ValidationError, match="none empty"):
        Settings(approve_tools="sqlsearch,,sql_query")


async def test_two_calls_of_one_round_are_decided_before_either_runs(
        bot: tuple[Bot, FakeOpenAI, InMemorySpanExporter]) -> None:
    agent, model, exporter = bot
    exporter.clear()
    model.script.clear()
    model.add(Turn(tool_calls=[search("call_a", "Moon distance"), search("call_b", "tides")]))
    events = await run(agent, thread_id="two-calls", question="@docsearch the Moon?")
    first = events[-1]
    assert isinstance(first, Answer) and first.interrupt is not None
    assert (first.interrupt.tool_call_id, first.agent) == ("call_a", "docsearch")

    events = await run(agent, thread_id="two-calls",
                       resume=Decision(first.interrupt.interrupt_id, "approve"))
    second = events[-1]
    assert isinstance(second, Answer) and second.interrupt is not None
    assert second.interrupt.tool_call_id == "call_b"
    assert second.interrupt.interrupt_id != first.interrupt.interrupt_id
    assert not [e for e in events if isinstance(e, ToolEvent)]  # nothing ran yet
    view = await agent.thread("two-calls")
    assert view is not None and view.pending is not None
    assert view.pending.interrupt == second.interrupt

    model.add(Turn(chunks=["The Moon is far [[1]](corpus/moon.md#the-moon)."]))
    events = await run(agent, thread_id="two-calls", resume=Decision(
        second.interrupt.interrupt_id, "reject", message="one search is enough"))
    ran = [e for e in events if isinstance(e, ToolEvent)]
    assert [(e.kind, e.tool_call_id) for e in ran] == [("tool_start", "call_a"),
                                                       ("tool_end", "call_a")]
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.interrupt is None
    sent = {m["tool_call_id"]: m["content"] for m in model.requests[-1].body["messages"]
            if m["role"] == "tool"}
    assert "corpus/moon.md" in sent["call_a"]
    assert sent["call_b"] == ("Not run: the person reviewing this call declined it. They said: "
                              "one search is enough")

    paused, resumed, finished = turn_spans(exporter)
    assert paused.attributes is not None and paused.attributes["smartbot.outcome"] == (
        "interrupted")
    assert events_of(paused) == [("smartbot.approval.requested", {
        "smartbot.approval.interrupt_id": first.interrupt.interrupt_id,
        "smartbot.specialist": "docsearch", "gen_ai.tool.name": "search_documents",
        "gen_ai.tool.call.id": "call_a"})]  # no arguments: content capture is off
    assert [name for name, _ in events_of(resumed)] == ["smartbot.approval.decided",
                                                        "smartbot.approval.requested"]
    assert events_of(resumed)[0][1]["smartbot.approval.decision"] == "approve"
    assert finished.attributes is not None and finished.attributes["smartbot.outcome"] == (
        "answered")
    assert [(n, a["smartbot.approval.decision"]) for n, a in events_of(finished)] == [
        ("smartbot.approval.decided", "reject")]


async def test_a_new_question_declines_the_waiting_call_in_the_span_too(
        bot: tuple[Bot, FakeOpenAI, InMemorySpanExporter]) -> None:
    agent, model, exporter = bot
    model.script.clear()
    model.add(Turn(tool_calls=[search("call_c", "Joey")]))
    paused = (await run(agent, thread_id="new-q", question="@docsearch who is Joey?"))[-1]
    assert isinstance(paused, Answer) and isinstance(paused.interrupt, Interrupt)
    exporter.clear()
    model.add(Turn(chunks=["Hello."]))
    await run(agent, thread_id="new-q", question="@chat hello")
    [span] = turn_spans(exporter)
    assert events_of(span) == [("smartbot.approval.decided", {
        "smartbot.approval.interrupt_id": paused.interrupt.interrupt_id,
        "smartbot.specialist": "docsearch", "gen_ai.tool.name": "search_documents",
        "gen_ai.tool.call.id": "call_c", "smartbot.approval.decision": "reject",
        "smartbot.approval.reason": "new_question"})]
    view = await agent.thread("new-q", include_tools=True)
    assert view is not None and view.pending is None
    assert [m.role for m in view.messages] == ["user", "assistant", "tool", "user", "assistant"]


async def test_a_stateless_turn_declines_what_it_cannot_wait_for(
        bot: tuple[Bot, FakeOpenAI, InMemorySpanExporter]) -> None:
    agent, model, _ = bot
    model.script.clear()
    model.add(Turn(tool_calls=[search("call_s", "Moon")]),
              Turn(chunks=["That search needs approval."]))
    events = await run(agent, thread_id="stateless", question="@docsearch the Moon?",
                       stateless=True)
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.interrupt is None
    assert not [e for e in events if isinstance(e, ToolEvent)]
    [told] = [m for m in model.requests[-1].body["messages"] if m["role"] == "tool"]
    assert told["content"] == CANNOT_ASK
    assert answer.text == "That search needs approval."


async def test_a_turn_that_cannot_show_a_pause_declines_instead(
        bot: tuple[Bot, FakeOpenAI, InMemorySpanExporter]) -> None:
    """`can_pause=False` (the OpenAI-compatible and MCP protocols, which have no way to show a
    waiting call): on a thread, the call is declined and the model told so, as when stateless."""
    agent, model, _ = bot
    model.script.clear()
    model.add(Turn(tool_calls=[search("call_p", "Moon")]),
              Turn(chunks=["That search needs approval."]))
    events = await run(agent, thread_id="no-pause", question="@docsearch the Moon?",
                       can_pause=False)
    answer = events[-1]
    assert isinstance(answer, Answer) and answer.interrupt is None
    [told] = [m for m in model.requests[-1].body["messages"] if m["role"] == "tool"]
    assert told["content"] == CANNOT_ASK
    view = await agent.thread("no-pause")
    assert view is not None and view.pending is None
