"""`/stream` over a real uvicorn server, read with sseclient-py as the seed client does."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
import requests
from sseclient import SSEClient

from agent.events import Answer, BotEvent, Token, ToolEvent
from api.streaming import STREAM_FAILED, UNSENDABLE, sse_stream
from standins.loopback_http import serve_app
from standins.model_service import Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.sample_api import create_app as create_sample_api
from tests.support.sse import Event, by_type, stream


def test_event_order_metadata_first_and_end_equals_chunks(offline_server: LiveServer) -> None:
    _, events = stream(f"{offline_server.url}/stream",
                       {"user_input": "@docsearch, how far away is the Moon?"})
    names = [e.event for e in events]
    assert names[0] == "metadata"
    assert names[-1] == "end"
    meta = events[0].json()
    assert set(meta) == {"run_id", "thread_id"} and meta["run_id"] and meta["thread_id"]
    assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
    chunks = by_type(events, "data")
    assert len(chunks) > 3, "the answer must arrive as several chunks"
    assert "".join(c.data for c in chunks) == events[-1].data
    assert "384,400" in events[-1].data and "[[1]](corpus/moon.md" in events[-1].data
    assert names.index("on_tool_start") < names.index("on_tool_end") < names.index("data")


def test_tool_events_carry_agent_tool_call_id_input_and_output(
        offline_server: LiveServer) -> None:
    _, events = stream(f"{offline_server.url}/stream",
                       {"user_input": "@docsearch what does Joey wear?"})
    start = by_type(events, "on_tool_start")[0].json()
    end = by_type(events, "on_tool_end")[0].json()
    assert start["agent"] == end["agent"] == "docsearch"
    assert start["name"] == end["name"] == "search_documents"
    assert start["tool_call_id"] == end["tool_call_id"] != ""
    assert "Joey" in start["input"]
    assert "Chandler" in end["output"] and end["status"] == "success"


def test_headers_are_sse_uncompressed_and_unbuffered(offline_server: LiveServer) -> None:
    resp, _ = stream(f"{offline_server.url}/stream", {"user_input": "@docsearch tides"})
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["cache-control"] == "no-cache"
    assert resp.headers["x-accel-buffering"] == "no"
    assert resp.headers.get("content-encoding", "identity") == "identity"


MULTILINE_CHUNKS = ["Line one\nline two", "\n\n", "  two leading spaces", " ", "\r\n",
                    "after crlf\rafter cr", "\n", "", "émoji 🚀 and 中文", "\n\nend "]


def test_multiline_chunks_reach_a_standard_client_intact(tmp_path: Path) -> None:
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "OPENAI_API_KEY": "test-key", "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "x"}}]),
                  Turn(chunks=MULTILINE_CHUNKS))
        _, events = stream(f"{server.url}/stream", {"user_input": "@docsearch formatting"})
    expected = [c.replace("\r\n", "\n").replace("\r", "\n") for c in MULTILINE_CHUNKS if c]
    assert [e.data for e in by_type(events, "data")] == expected
    assert by_type(events, "end")[0].data == "".join(expected)


def test_keepalive_comments_while_the_model_is_slow_to_start(tmp_path: Path) -> None:
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "SSE_KEEPALIVE_SECONDS": "0.2", "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "x"}}],
                       first_delay=1.0), Turn(chunks=["done"]))
        with requests.post(f"{server.url}/stream", json={"user_input": "@docsearch slow"},
                           stream=True, timeout=30) as resp:
            raw = resp.content.decode()
    assert raw.count(": keep-alive\n\n") >= 2
    assert raw.index(": keep-alive") > raw.index("event: metadata")
    assert "event: end\ndata: done\n" in raw


def test_keepalive_comments_during_a_slow_tool(tmp_path: Path) -> None:
    api = create_sample_api()
    api.state.price_delay = 1.0
    with serve_app(api) as api_url, fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "APISEARCH_OPENAPI_SPEC": f"{api_url}/openapi.json", "OUTBOUND_ALLOW_PRIVATE": "true",
            "SSE_KEEPALIVE_SECONDS": "0.2", "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "getPrice",
                                    "arguments": {"symbol": "ETH", "currency": "USD"}}]),
                  Turn(chunks=["ETH is 3456.78 USD"]))
        with requests.post(f"{server.url}/stream", stream=True, timeout=30,
                           json={"user_input": "@apisearch ETH price?"}) as resp:
            raw = resp.content.decode()
    tool_start, tool_end = raw.index("event: on_tool_start"), raw.index("event: on_tool_end")
    assert raw.count(": keep-alive\n\n", tool_start, tool_end) >= 2
    assert "3456.78" in raw[tool_end:]
    assert "event: end\ndata: ETH is 3456.78 USD\n" in raw


def test_error_event_when_the_model_fails_mid_stream(tmp_path: Path) -> None:
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "x"}}]),
                  Turn(chunks=["partial ", "answer ", "never finished"], fail_after=2))
        _, events = stream(f"{server.url}/stream", {"user_input": "@docsearch break please"})
        log = server.log()
    names = [e.event for e in events]
    assert names[0] == "metadata" and names[-1] == "error" and "end" not in names
    error = events[-1].json()
    assert set(error) == {"status_code", "message", "run_id"}
    assert error["run_id"] == events[0].json()["run_id"]
    assert error["status_code"] >= 500
    assert "Traceback" not in error["message"] and "test-key" not in error["message"]
    # The server log says what happened and to which run, without the service's own words.
    assert f"run {error['run_id']} (mid-stream) failed: the model service unreachable" in log


def test_client_disconnect_cancels_the_run_and_the_thread_stays_usable(tmp_path: Path) -> None:
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "x"}}]),
                  Turn(chunks=[f"tok{i} " for i in range(500)], delay=0.02))
        host, port = server.url.removeprefix("http://").split(":")
        body = b'{"user_input": "@docsearch long answer", "thread_id": "disc-1"}'
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            received = b""
            while received.count(b"event: data") < 3:
                received += sock.recv(65536)
        # the client is gone: the model stream must be cancelled long before its 500 tokens
        deadline = time.monotonic() + 10
        while not (len(model.outcomes) == 2 and model.outcomes[1].cancelled):
            assert time.monotonic() < deadline, "the model stream was not cancelled"
            time.sleep(0.02)
        assert model.outcomes[1].chunks_sent < 100
        assert not model.outcomes[1].completed
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "y"}}]),
                  Turn(chunks=["second ", "turn"]))
        _, events = stream(f"{server.url}/stream",
                           {"user_input": "@docsearch again", "thread_id": "disc-1"})
        assert by_type(events, "end")[0].data == "second turn"
        last_request = model.requests[-1].body["messages"]
        assert [m["content"] for m in last_request if m["role"] == "user"][-2:] == [
            "@docsearch long answer", "@docsearch again"]


def test_a_bot_that_cannot_be_built_gives_an_error_event_and_json_errors(tmp_path: Path) -> None:
    # MODEL_PROVIDER=azure without an endpoint: the bot fails to build on first use.
    with live_server(tmp_path, {"MODEL_PROVIDER": "azure", "DOCS_DIR": str(CORPUS)}) as server:
        _, events = stream(f"{server.url}/stream", {"user_input": "@docsearch hi"})
        thread = requests.get(f"{server.url}/threads/t-1", timeout=10)
        invoke = requests.post(f"{server.url}/invoke", json={"user_input": "hi"}, timeout=10)
    assert [e.event for e in events] == ["metadata", "error"]
    assert events[1].json()["status_code"] == 500
    for resp in (thread, invoke):
        assert resp.status_code == 500 and resp.json()["detail"].startswith("The run failed")


def test_an_event_that_cannot_be_encoded_ends_the_stream_with_an_error_event(
        tmp_path: Path) -> None:
    # The model streams an unpaired surrogate (the JSON escape "\ud800" on the wire): that
    # chunk can't be sent as UTF-8, so the stream ends with an `error` event and a properly
    # terminated response, and the run is cancelled. (How soon the model's own HTTP stream
    # closes after that is LangGraph's business: it may read on to its end.)
    with fake_openai() as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "DOCS_DIR": str(CORPUS)}) as server:
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "x"}}]),
                  Turn(chunks=["fine ", "bad \ud800 chunk", *[f"w{i} " for i in range(200)]],
                       delay=0.01))
        with requests.post(f"{server.url}/stream", stream=True, timeout=30,
                           json={"user_input": "@docsearch surrogate", "thread_id": "enc-1"}
                           ) as resp:
            raw = resp.content  # raises ChunkedEncodingError if the response is cut
        events = [e for e in SSEClient(io.BytesIO(raw)).events()]
        model.add(Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "y"}}]),
                  Turn(chunks=["next ", "turn"]))
        _, after = stream(f"{server.url}/stream",
                          {"user_input": "@docsearch again", "thread_id": "enc-1"})
        log = server.log()
    assert raw.endswith(b"\n\n")
    names = [e.event for e in events]
    assert names[:2] == ["metadata", "on_tool_start"] and names[-1] == "error"
    assert [e.data for e in events if e.event == "data"] == ["fine "]
    assert [int(e.id) for e in events] == list(range(1, len(events) + 1))
    error = json.loads(events[-1].data)
    assert error["status_code"] == 500 and "not valid Unicode" in error["message"]
    assert "a Token event is not valid Unicode" in log
    assert "cancelled: the stream was stopped" in log
    assert "client went away" not in log and "UnicodeEncodeError" not in log
    assert by_type(after, "end")[0].data == "next turn"


# --- sse_stream as a unit: what it does when something fails on our side --------------------
async def _collect(events: AsyncIterator[BotEvent]) -> list[Event]:
    stream_ = sse_stream(lambda _on_token: events, "run-1", "t-1", 5.0)
    raw = b"".join([chunk async for chunk in stream_])
    assert raw.endswith(b"\n\n")
    return [Event(e.event, e.data, e.id) for e in SSEClient(io.BytesIO(raw)).events()]


async def test_a_bug_mid_stream_becomes_an_error_event_and_the_run_is_stopped(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "api.streaming")
    stopped = asyncio.Event()

    async def run() -> AsyncIterator[BotEvent]:
        try:
            yield Token("ok")
            yield cast(BotEvent, object())  # not an event: it can't be encoded
            yield Token("never")  # the run would go on
        finally:  # closed: a turn's lease and graph steps are let go of here
            stopped.set()

    events = await _collect(run())
    assert [e.event for e in events] == ["metadata", "data", "error"]
    assert [e.id for e in events] == ["1", "2", "3"]
    assert events[-1].json() == {"status_code": 500, "message": STREAM_FAILED, "run_id": "run-1"}
    await asyncio.wait_for(stopped.wait(), 5)
    assert "run run-1 cancelled: the stream was stopped" in caplog.text
    assert "client went away" not in caplog.text


async def test_an_unencodable_tool_event_ends_the_stream(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> AsyncIterator[BotEvent]:
        yield ToolEvent("tool_start", "sqlsearch", "sql_query", "c1", input="\udce9")
        yield Answer("never sent", "sqlsearch")

    events = await _collect(run())
    assert [e.event for e in events] == ["metadata", "error"]
    assert [e.id for e in events] == ["1", "2"]
    assert events[-1].json()["message"] == UNSENDABLE
    assert "a ToolEvent event is not valid Unicode" in caplog.text


async def test_the_client_leaving_is_logged_as_such(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "api.streaming")
    async def run() -> AsyncIterator[BotEvent]:
        yield Token("one")
        await asyncio.Event().wait()  # runs until cancelled
        yield Token("never")

    stream_ = sse_stream(lambda _on_token: run(), "run-2", "t-2", 5.0)
    assert b"event: metadata" in await anext(stream_)
    assert b"event: data" in await anext(stream_)
    await stream_.aclose()  # what the server does when the client disconnects
    assert "run run-2 cancelled: the client went away" in caplog.text
