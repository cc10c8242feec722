"""The fast streaming read gives what langchain-openai's own path gives, over the wire.

Each model talks to the strict Azure OpenAI stand-in on loopback (v1 API and the classic path):
the fast classes and langchain-openai's stock classes get the same scripted replies, and must
send the same request body and return the same message (text, tool calls, usage with reasoning
tokens, `finish_reason`, Azure's content-filter stop). Failures come out as the SDK's
exceptions: an `error` event, a cut connection, a keep-alive-only stream; the SDK still retries
a 429 (honouring `Retry-After`) and a 5xx. The SSE parser is checked on its own with every way
a body can be split into reads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import StreamChunkTimeoutError
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from agent.models.factory import build_chat_model
from agent.models.failures import (
    ContentFilteredError,
    FailureKind,
    MalformedReply,
    classify,
    raise_if_filtered,
)
from agent.models.fast_stream import FastAzureChatOpenAI, FastChatOpenAI, SSEData
from agent.settings import Settings
from standins.loopback_http import serve_app
from standins.model_service import FakeOpenAI, Turn, fake_openai, rate_limited, server_error
from standins.processes import free_port

DEPLOYMENT = "gpt-5.4-mini"
TOOLS = [{"type": "function", "function": {
    "name": "search_documents", "description": "Search the documents.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}]
PROMPT = [SystemMessage("Answer from the documents."), HumanMessage("How far is the Moon?")]


def _settings(base_url: str, api_version: str = "v1", **options: Any) -> Settings:
    options.setdefault("model_max_retries", 0)
    return Settings(model_provider="azure", azure_openai_endpoint=base_url,
                    azure_openai_chat_deployment=DEPLOYMENT, azure_openai_api_version=api_version,
                    azure_openai_api_key=SecretStr("test-key"), **options)


@pytest.fixture
def server() -> Iterator[tuple[FakeOpenAI, str]]:
    with fake_openai() as running:
        yield running


@pytest.fixture
async def opened() -> AsyncIterator[list[Any]]:
    closers: list[Any] = []
    yield closers
    for close in closers:
        await close()


def _pair(base_url: str, opened: list[Any], **options: Any) -> tuple[Any, Any]:
    """(fast, stock) models for the same settings."""
    settings = _settings(base_url, **options)
    return (build_chat_model(settings, opened),
            build_chat_model(settings, opened, fast_stream=False))


def _comparable(message: AIMessage) -> dict[str, Any]:
    """What the agent reads from a reply (ids differ per run, and so do tool-call ids)."""
    metadata = {k: v for k, v in message.response_metadata.items() if k != "id"}
    return {"text": message.text, "tool_calls": [(c["name"], c["args"]) for c in
                                                 message.tool_calls],
            "usage": message.usage_metadata, "metadata": metadata,
            "invalid_tool_calls": message.invalid_tool_calls}


@pytest.mark.parametrize("api_version", ["v1", "2024-10-21"])
async def test_the_fast_path_is_the_default_for_azure_and_openai(
        server: tuple[FakeOpenAI, str], opened: list[Any], api_version: str) -> None:
    _, base_url = server
    model = build_chat_model(_settings(base_url, api_version=api_version), opened)
    expected = FastChatOpenAI if api_version == "v1" else FastAzureChatOpenAI
    assert type(model) is expected
    openai_model = build_chat_model(Settings(model_provider="openai",
                                             openai_base_url=f"{base_url}/v1"), opened)
    assert type(openai_model) is FastChatOpenAI


SCRIPTS = {
    "tool call": [Turn(tool_calls=[{"name": "search_documents",
                                    "arguments": {"query": "Moon distance"}}])],
    "answer": [Turn(chunks=["The Moon", " is about", " 384,400 km", " away.\n",
                            " [[1]](moon.md)"])],
    "text beside a tool call": [Turn(chunks=["Let me look."], tool_calls=[
        {"name": "search_documents", "arguments": {"query": "Moon"}}])],
    "content filter": [Turn(chunks=["The Moon is"], finish_reason="content_filter")],
}


@pytest.mark.parametrize("api_version", ["v1", "2024-10-21"])
@pytest.mark.parametrize("script", list(SCRIPTS))
async def test_same_request_and_same_reply_as_langchain_openai(
        server: tuple[FakeOpenAI, str], opened: list[Any], script: str, api_version: str) -> None:
    fake, base_url = server
    fast, stock = _pair(base_url, opened, api_version=api_version)
    replies = []
    for model in (fast, stock):
        fake.add(*SCRIPTS[script])
        replies.append(await model.bind_tools(TOOLS).ainvoke(PROMPT))
    fast_reply, stock_reply = replies
    assert _comparable(fast_reply) == _comparable(stock_reply)
    assert fast_reply.usage_metadata is not None
    assert fast_reply.usage_metadata["output_token_details"] == {"reasoning": 0}
    fast_body, stock_body = (r.body for r in fake.requests)
    assert fast_body == stock_body, "the SDK must send the same JSON body"
    assert fake.refusals == []
    if script == "content filter":
        assert fast_reply.response_metadata["finish_reason"] == "content_filter"
        with pytest.raises(ContentFilteredError):
            raise_if_filtered(fast_reply)


async def test_streamed_chunks_match_one_for_one(server: tuple[FakeOpenAI, str],
                                                 opened: list[Any]) -> None:
    fake, base_url = server
    fast, stock = _pair(base_url, opened)
    streams = []
    for model in (fast, stock):
        fake.add(Turn(chunks=["a", " b", "\nc", " é ✓"]))
        streams.append([(c.text, c.response_metadata.get("finish_reason"))
                        async for c in model.astream(PROMPT)])
    assert streams[0] == streams[1]
    assert "".join(text for text, _ in streams[0]) == "a b\nc é ✓"


async def test_the_sdk_still_retries_429_and_5xx(server: tuple[FakeOpenAI, str],
                                                 opened: list[Any]) -> None:
    fake, base_url = server
    model = build_chat_model(_settings(base_url, model_max_retries=2), opened)
    fake.add(rate_limited(retry_after=1), server_error(503), Turn(chunks=["at last"]))
    reply = await model.ainvoke(PROMPT)
    assert reply.text == "at last"
    assert len(fake.requests) == 3


def _serve(body: Any) -> Any:
    """A loopback chat-completions server whose stream is `body()` (an async generator)."""
    async def completions(request: Request) -> StreamingResponse:
        await request.body()
        return StreamingResponse(body(), media_type="text/event-stream")

    return serve_app(Starlette(routes=[Route("/openai/v1/chat/completions", completions,
                                             methods=["POST"])]))


def _chunk(content: str) -> str:
    payload = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": DEPLOYMENT,
               "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}]}
    return f"data: {json.dumps(payload)}\n\n"


async def test_an_error_event_in_the_stream_raises_the_sdk_error(opened: list[Any]) -> None:
    async def body() -> AsyncIterator[str]:
        yield _chunk("partial")
        yield 'data: {"error": {"message": "The server had an error.", "type": "server_error"}}\n\n'

    with _serve(body) as base_url:
        model = build_chat_model(_settings(base_url), opened)
        with pytest.raises(openai.APIError, match="The server had an error"):
            await model.ainvoke(PROMPT)


async def test_a_cut_connection_is_a_connection_error(opened: list[Any]) -> None:
    async def body() -> AsyncIterator[str]:
        yield _chunk("partial")
        raise ConnectionResetError("cut")

    with _serve(body) as base_url:
        model = build_chat_model(_settings(base_url), opened)
        with pytest.raises(openai.APIConnectionError) as raised:
            await model.ainvoke(PROMPT)
    failure = classify(raised.value, _settings(base_url))
    assert failure is not None and failure.kind is FailureKind.UNREACHABLE


async def test_a_stream_of_keepalives_only_times_out(opened: list[Any]) -> None:
    async def body() -> AsyncIterator[str]:
        yield _chunk("first")
        for _ in range(200):  # bounded: 10 s of keep-alives at most
            yield ": keep-alive\n\n"
            await asyncio.sleep(0.05)  # pacing the stand-in's comments

    with _serve(body) as base_url:
        model = build_chat_model(_settings(base_url), opened)
        assert isinstance(model, FastChatOpenAI)
        model.stream_chunk_timeout = 0.3
        with pytest.raises(StreamChunkTimeoutError) as raised:
            await model.ainvoke(PROMPT)
    assert raised.value.chunks_received == 1
    failure = classify(raised.value, _settings(base_url))
    assert failure is not None and failure.kind is FailureKind.TIMEOUT


BODY = (b'data: {"a": 1}\n\n'
        b": a comment\r\n"
        b"event: message\r\nid: 7\r\n"
        b'data: {"b":\r\ndata: 2}\r\n\r\n'
        b"retry: 10\n"
        b"data: [DONE]\n\n")
EVENTS = [b'{"a": 1}', b'{"b":\n2}', b"[DONE]"]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 16, len(BODY)])
def test_sse_events_are_the_same_however_the_body_is_split(size: int) -> None:
    parser = SSEData()
    events = [e for i in range(0, len(BODY), size) for e in parser.feed(BODY[i:i + size])]
    assert events + parser.close() == EVENTS


def test_an_event_the_body_ends_without_its_blank_line_is_kept() -> None:
    parser = SSEData()
    assert parser.feed(b'data: {"x": 1}') == []
    assert parser.close() == [b'{"x": 1}']
    assert SSEData().close() == []


async def test_no_server_is_unreachable_not_a_timeout(opened: list[Any]) -> None:
    # The SDK's aiohttp client reports a refused connection as a connect timeout.
    settings = _settings(f"http://127.0.0.1:{free_port()}")
    model = build_chat_model(settings, opened)
    with pytest.raises(openai.APIConnectionError) as raised:
        await model.ainvoke(PROMPT)
    failure = classify(raised.value, settings)
    assert failure is not None and failure.kind is FailureKind.UNREACHABLE
    assert "no connection" in failure.message


async def test_chunks_before_a_bad_one_in_the_same_read_are_still_streamed(
        opened: list[Any]) -> None:
    # Both events arrive in one read: the good chunk is handed on before the bad one raises,
    # and a lone surrogate escape (which orjson refuses) is read as the SDK reads it.
    async def body() -> AsyncIterator[str]:
        yield _chunk("fine ") + _chunk("odd \ud800 text") + "data: {not json}\n\n"

    with _serve(body) as base_url:
        model = build_chat_model(_settings(base_url), opened)
        seen: list[str] = []
        with pytest.raises(MalformedReply):
            async for chunk in model.astream(PROMPT):
                seen.append(chunk.text)
    assert seen[:2] == ["fine ", "odd \ud800 text"]
