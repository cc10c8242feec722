"""The spans of a turn, as OpenTelemetry records them: the real bot (graph, docs index, SQLite
threads, tools) on the Azure OpenAI v1 path against the loopback Azure stand-in, which streams
usage with reasoning tokens; the spans go to opentelemetry-sdk's `InMemorySpanExporter` through
a tracer provider of the test's own (never the process-wide one).

Asserted: one `invoke_agent` span per turn with thread, run, specialist, outcome and token
totals; one `chat` span per model call and one `execute_tool` span per tool call, both children
of the turn span, with the GenAI attributes (deployment, tokens, reasoning tokens, time to first
chunk, tool status); failures, cancellation and another user's thread; and that no prompt,
answer or tool input/output is in any span unless TELEMETRY_CAPTURE_CONTENT is on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agent.bot import Bot, build_bot
from agent.events import Answer, Token, TokenUsage
from agent.memory.thread_index import Feedback
from agent.ownership import Owner, ThreadNotFound
from agent.settings import Settings
from agent.telemetry.tracer import TurnTracer
from agent.turns import TurnRequest
from standins.model_service import FakeOpenAI, Turn, fake_openai, server_error
from tests.conftest import CORPUS

DEPLOYMENT = "gpt-5.4-mini-telemetry"
KEY = "telemetry-test-key"
QUESTION = "@docsearch how far away is the Moon?"
TOOL_QUERY = "Moon distance kilometres"
ANSWER = ["The Moon ", "is about 384,400 km away ", "[[1]](corpus/moon.md#the-moon)."]
# One event loop for the module: langchain-openai shares one async HTTP client per base URL and
# process, and that client belongs to the loop it first ran on.
pytestmark = pytest.mark.asyncio(loop_scope="module")
CONTENT_KEYS = {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.call.arguments",
                "gen_ai.tool.call.result"}


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, str, Path]]:
    """The Azure stand-in (a reasoning deployment, key auth) and a data folder for the bots."""
    with fake_openai(deployments={DEPLOYMENT: "reasoning"}, api_keys={KEY}) as (model, url):
        yield model, url, tmp_path_factory.mktemp("telemetry-data")
        assert model.refusals == [], model.refusals


@pytest.fixture()
def exported() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter, provider
    provider.shutdown()


def _settings(url: str, data_dir: Path, **extra: Any) -> Settings:
    return Settings(model_provider="azure", azure_openai_endpoint=url,
                    azure_openai_chat_deployment=DEPLOYMENT, azure_openai_api_key=KEY,
                    model_max_retries=0, docs_dir=CORPUS, data_dir=data_dir, **extra)


async def _bot(settings: Settings, provider: TracerProvider) -> Bot:
    bot = await build_bot(settings)
    # What `agent.telemetry.start` returns when telemetry is on, on the test's own provider.
    bot.tracer = TurnTracer(settings, tracer_provider=provider)
    return bot


def _script_moon_turn(model: FakeOpenAI) -> None:
    model.script.clear()
    model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": TOOL_QUERY}}],
                   reasoning_tokens=3),
              Turn(chunks=ANSWER, reasoning_tokens=7))


def _by_operation(spans: list[ReadableSpan]) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        found.setdefault(str((span.attributes or {})["gen_ai.operation.name"]), []).append(span)
    return found


def _attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _every_value(spans: list[ReadableSpan]) -> str:
    return json.dumps([[span.name, {k: v if isinstance(v, (str, int, float, bool)) else list(v)
                                    for k, v in _attrs(span).items()}] for span in spans])


def _assert_moon_turn(spans: list[ReadableSpan], thread_id: str, run_id: str) -> None:
    """The spans of one @docsearch turn with one tool call, checked attribute by attribute."""
    ops = _by_operation(spans)
    assert sorted(ops) == ["chat", "execute_tool", "invoke_agent"]
    [turn] = ops["invoke_agent"]
    chats = sorted(ops["chat"], key=lambda s: s.start_time or 0)
    [tool] = ops["execute_tool"]
    assert len(chats) == 2  # the @mention routes without a model call

    assert turn.name == "invoke_agent smartbot" and turn.kind == SpanKind.INTERNAL
    assert turn.parent is None
    assert _attrs(turn) == {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "smartbot",
        "gen_ai.provider.name": "azure.ai.openai", "gen_ai.conversation.id": thread_id,
        "smartbot.run_id": run_id, "smartbot.outcome": "answered",
        "smartbot.specialist": "docsearch",
        # 10 + 10 prompt tokens; 3 reasoning, then 3 chunks + 7 reasoning
        "gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 13,
        "gen_ai.usage.reasoning.output_tokens": 10, "smartbot.usage.total_tokens": 33,
        "gen_ai.usage.cache_read.input_tokens": 0,  # the stand-in's prompts are too short
    }
    assert turn.status.status_code == StatusCode.UNSET

    for chat, (output_tokens, reasoning, finish) in zip(
            chats, [(3, 3, "tool_calls"), (10, 7, "stop")], strict=True):
        attrs = _attrs(chat)
        assert chat.name == f"chat {DEPLOYMENT}" and chat.kind == SpanKind.CLIENT
        assert chat.parent is not None and chat.parent.span_id == turn.context.span_id
        assert chat.context.trace_id == turn.context.trace_id
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "azure.ai.openai"
        assert attrs["gen_ai.system"] == "az.ai.openai"
        assert attrs["gen_ai.request.model"] == DEPLOYMENT
        assert attrs["gen_ai.response.model"] == DEPLOYMENT
        assert attrs["gen_ai.usage.input_tokens"] == 10
        assert attrs["gen_ai.usage.output_tokens"] == output_tokens
        assert attrs["gen_ai.usage.reasoning.output_tokens"] == reasoning
        assert attrs["gen_ai.usage.cache_read.input_tokens"] == 0
        assert attrs["gen_ai.response.finish_reasons"] == (finish,)
        assert attrs["smartbot.node"] == "docsearch" == attrs["gen_ai.agent.name"]
        ttfc = attrs["gen_ai.response.time_to_first_chunk"]
        assert isinstance(ttfc, float) and 0 < ttfc * 1e9 <= (chat.end_time or 0) - (
            chat.start_time or 0)
        assert chat.status.status_code == StatusCode.UNSET

    assert tool.name == "execute_tool search_documents" and tool.kind == SpanKind.INTERNAL
    assert tool.parent is not None and tool.parent.span_id == turn.context.span_id
    attrs = _attrs(tool)
    assert attrs["gen_ai.tool.name"] == "search_documents"
    assert attrs["gen_ai.tool.type"] == "function"
    assert attrs["gen_ai.agent.name"] == "docsearch"
    assert attrs["smartbot.tool.status"] == "success"
    # model call -> tool call -> model call, all within the turn
    assert (turn.start_time or 0) <= (chats[0].start_time or 0)
    assert (chats[0].end_time or 0) <= (tool.start_time or 0) < (tool.end_time or 0)
    assert (tool.end_time or 0) <= (chats[1].start_time or 0)
    assert (chats[1].end_time or 0) <= (turn.end_time or 0)

    # Nothing of the conversation itself: no question, tool input or output, or answer.
    every = _every_value(spans)
    assert not CONTENT_KEYS & {k for span in spans for k in _attrs(span)}
    for content in ("how far away", TOOL_QUERY, "384,400", "Earth's only natural satellite"):
        assert content not in every, content
    assert KEY not in every, "the model's key is in a span"


async def test_a_turn_with_a_tool_call_is_one_turn_span_with_model_and_tool_children(
        azure: tuple[FakeOpenAI, str, Path],
        exported: tuple[InMemorySpanExporter, TracerProvider]) -> None:
    model, url, data_dir = azure
    exporter, provider = exported
    bot = await _bot(_settings(url, data_dir), provider)
    try:
        _script_moon_turn(model)
        answer = await bot.answer(TurnRequest("tel-1", "run-1", QUESTION))
        assert answer.usage == TokenUsage(input_tokens=20, output_tokens=13,
                                          reasoning_tokens=10, total_tokens=33)
        _assert_moon_turn(list(exporter.get_finished_spans()), "tel-1", "run-1")

        # The same through the streaming path.
        exporter.clear()
        _script_moon_turn(model)
        events = [e async for e in bot.run(TurnRequest("tel-2", "run-2", QUESTION))]
        assert isinstance(events[-1], Answer) and events[-1].usage.total_tokens == 33
        _assert_moon_turn(list(exporter.get_finished_spans()), "tel-2", "run-2")
    finally:
        await bot.aclose()


async def test_failures_cancellation_and_a_foreign_thread_end_the_turn_span_by_outcome(
        azure: tuple[FakeOpenAI, str, Path],
        exported: tuple[InMemorySpanExporter, TracerProvider]) -> None:
    model, url, data_dir = azure
    exporter, provider = exported
    bot = await _bot(_settings(url, data_dir), provider)
    try:
        # The model service fails: the chat span and the turn span say so, by type only.
        model.script.clear()
        model.add(server_error(500))
        with pytest.raises(Exception) as failed:
            await bot.answer(TurnRequest("tel-fail", "run-fail", QUESTION))
        ops = _by_operation(list(exporter.get_finished_spans()))
        [turn], [chat] = ops["invoke_agent"], ops["chat"]
        assert _attrs(turn)["smartbot.outcome"] == "error"
        assert turn.status.status_code == StatusCode.ERROR
        assert _attrs(turn)["error.type"] == f"{type(failed.value).__module__}." \
            f"{type(failed.value).__qualname__}"
        assert chat.status.status_code == StatusCode.ERROR
        assert _attrs(chat)["error.type"] == "langchain_openai.chat_models.base.OpenAIAPIError"
        assert "Sorry about that" not in _every_value([turn, chat])  # no upstream body

        # A tool that fails (the SQL guard refuses a DELETE): its span is an error, the turn
        # goes on and is answered.
        exporter.clear()
        model.script.clear()
        model.add(Turn(tool_calls=[{"name": "sql_query",
                                    "arguments": {"query": "DELETE FROM covid_daily"}}]),
                  Turn(chunks=["I may only read the data."]))
        answer = await bot.answer(TurnRequest("tel-tool", "run-tool", "@sqlsearch delete the data"))
        assert answer.agent == "sqlsearch"
        ops = _by_operation(list(exporter.get_finished_spans()))
        [tool] = ops["execute_tool"]
        assert _attrs(tool)["gen_ai.tool.name"] == "sql_query"
        assert _attrs(tool)["smartbot.tool.status"] == "error"
        assert tool.status.status_code == StatusCode.ERROR
        assert _attrs(tool)["error.type"] == "agent.tools.calls.ToolCallRefused"  # a ToolException
        assert _attrs(ops["invoke_agent"][0])["smartbot.outcome"] == "answered"

        # The client leaves mid-answer: the turn is cancelled and every span still ends.
        exporter.clear()
        model.script.clear()
        model.add(Turn(chunks=["slow ", "answer ", "never ", "finished"], delay=0.5))
        stream = bot.run(TurnRequest("tel-cancel", "run-cancel", "@chat tell me something"))
        async for event in stream:
            if isinstance(event, Token):
                break
        await stream.aclose()
        ops = _by_operation(list(exporter.get_finished_spans()))
        assert _attrs(ops["invoke_agent"][0])["smartbot.outcome"] == "cancelled"
        assert len(ops["chat"]) == 1  # ended although the call never finished

        # Another user's thread: refused before any model call.
        exporter.clear()
        model.script.clear()
        model.add(Turn(chunks=["mine"]))
        await bot.answer(TurnRequest("tel-owned", "run-a", "@chat hello", owner=Owner("aad:alice")))
        exporter.clear()
        with pytest.raises(ThreadNotFound):
            await bot.answer(TurnRequest("tel-owned", "run-b", "@chat hello",
                                         owner=Owner("aad:bob")))
        [turn] = exporter.get_finished_spans()
        assert _attrs(turn)["smartbot.outcome"] == "not_found"
        assert _attrs(turn)["error.type"] == "agent.ownership.ThreadNotFound"
    finally:
        await bot.aclose()


async def test_content_is_recorded_only_when_capture_is_on(
        azure: tuple[FakeOpenAI, str, Path],
        exported: tuple[InMemorySpanExporter, TracerProvider]) -> None:
    model, url, data_dir = azure
    exporter, provider = exported
    bot = await _bot(_settings(url, data_dir, telemetry_capture_content=True), provider)
    try:
        _script_moon_turn(model)
        await bot.answer(TurnRequest("tel-content", "run-content", QUESTION))
    finally:
        await bot.aclose()
    ops = _by_operation(list(exporter.get_finished_spans()))
    first, second = sorted(ops["chat"], key=lambda s: s.start_time or 0)
    asked = json.loads(str(_attrs(first)["gen_ai.input.messages"]))
    assert asked[-1] == {"role": "human", "content": QUESTION}
    called = json.loads(str(_attrs(first)["gen_ai.output.messages"]))
    assert called[0]["tool_calls"] == [{"name": "search_documents",
                                        "arguments": {"query": TOOL_QUERY}}]
    said = json.loads(str(_attrs(second)["gen_ai.output.messages"]))
    assert said == [{"role": "ai", "content": "".join(ANSWER)}]
    [tool] = ops["execute_tool"]
    assert json.loads(str(_attrs(tool)["gen_ai.tool.call.arguments"])) == {"query": TOOL_QUERY}
    assert "384,400" in str(_attrs(tool)["gen_ai.tool.call.result"])
    # Content on, secrets still out: the bot holds the model's key, no span carries it.
    assert KEY not in _every_value(list(exporter.get_finished_spans()))


@pytest.mark.parametrize("capture", [False, True])
async def test_feedback_is_an_evaluation_event_on_a_feedback_span(
        azure: tuple[FakeOpenAI, str, Path],
        exported: tuple[InMemorySpanExporter, TracerProvider], capture: bool) -> None:
    model, url, data_dir = azure
    exporter, provider = exported
    bot = await _bot(_settings(url, data_dir, telemetry_capture_content=capture), provider)
    thread = f"tel-feedback-{capture}"
    try:
        _script_moon_turn(model)
        await bot.answer(TurnRequest(thread, "run-judged", QUESTION))
        exporter.clear()
        await bot.give_feedback(thread, None, Feedback("run-judged", -1, "Too long.", 1.0))
    finally:
        await bot.aclose()
    [span] = exporter.get_finished_spans()
    assert span.name == "feedback smartbot"
    assert _attrs(span)["gen_ai.conversation.id"] == thread
    [event] = span.events
    assert event.name == "gen_ai.evaluation.result"
    attributes = dict(event.attributes or {})
    assert {k: attributes[k] for k in ("gen_ai.evaluation.name", "gen_ai.evaluation.score.value",
                                       "gen_ai.evaluation.score.label", "smartbot.run_id")} == {
        "gen_ai.evaluation.name": "user_feedback", "gen_ai.evaluation.score.value": -1,
        "gen_ai.evaluation.score.label": "thumbs_down", "smartbot.run_id": "run-judged"}
    assert ("gen_ai.evaluation.explanation" in attributes) is capture
