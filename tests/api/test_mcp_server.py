"""The MCP server through the official `mcp` client (none of us wrote it), against the real dev
server: the initialize handshake, the tool list with its annotations and output schema, `ask`
with its structured content, a follow-up on the same thread, a 2026-07-28 client without a
handshake, tool errors, Easy Auth ownership (the caller reaches the tool), a busy thread, and bad
HTTP input in JSON-RPC's error shape. The Functions trigger is called in-process with a request
the FastAPI app never saw (the worker-level test runs it inside the real worker).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import requests
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.requests import Request

from standins.model_service import FakeOpenAI, Turn
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.dev_server import model_and_server
from tests.support.easyauth import signed_in
from tests.support.starlette_request import starlette_request

MOON = "@docsearch how far away is the Moon?"
SEARCH = Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "Moon"}}])
JSON_RPC = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}


def connect(server: LiveServer, headers: dict[str, str] | None = None,
            mode: str = "legacy") -> Client:
    if headers is None:
        return Client(f"{server.url}/mcp", mode=mode)
    transport = streamable_http_client(f"{server.url}/mcp",
                                       http_client=httpx2.AsyncClient(headers=headers))
    return Client(transport, mode=mode)


async def test_initialize_list_tools_ask_and_follow_up(offline_server: LiveServer) -> None:
    async with connect(offline_server) as client:
        assert client.server_info is not None and client.server_info.name == "smartbot"
        assert client.server_capabilities.tools is not None
        tools = (await client.list_tools()).tools
        assert [t.name for t in tools] == ["ask"]
        ask = tools[0]
        assert ask.annotations is not None and ask.annotations.read_only_hint is True
        assert ask.annotations.destructive_hint is False
        assert ask.input_schema["required"] == ["question"]
        assert {"question", "thread_id", "specialist"} == set(ask.input_schema["properties"])
        assert ask.output_schema is not None
        assert {"answer", "citations", "thread_id"} <= set(ask.output_schema["properties"])

        first = await client.call_tool("ask", {"question": MOON})
        assert not first.is_error, first.content
        out = first.structured_content
        assert out is not None and "384,400" in out["answer"]
        assert out["citations"] == [{"n": 1, "source": "corpus/moon.md#the-moon"},
                                    {"n": 2, "source": "corpus/moon.md#tides"}]
        assert out["agent"] == "docsearch"
        assert first.content[0].text == out["answer"]  # type: ignore[union-attr]
        assert out["thread_id"] in first.content[1].text  # type: ignore[union-attr]

        second = await client.call_tool("ask", {"question": "And what raises the tides?",
                                                "thread_id": out["thread_id"],
                                                "specialist": "docsearch"})
        assert not second.is_error, second.content
        assert second.structured_content is not None
        assert second.structured_content["thread_id"] == out["thread_id"]
    thread = requests.get(f"{offline_server.url}/threads/{out['thread_id']}", timeout=30).json()
    assert [m["role"] for m in thread["messages"]] == ["user", "assistant"] * 2
    assert thread["messages"][2]["content"].endswith("And what raises the tides?")


async def test_a_2026_client_asks_without_a_handshake(offline_server: LiveServer) -> None:
    async with connect(offline_server, mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        result = await client.call_tool("ask", {"question": MOON})
    assert not result.is_error and result.structured_content is not None
    assert "384,400" in result.structured_content["answer"]


@pytest.mark.parametrize(("arguments", "message"), [
    ({"question": " \t"}, "question: must not be empty"),
    ({"question": "x" * 8001}, "the limit is 8000 (MAX_INPUT_CHARS)"),
    ({"question": "hi", "thread_id": "a/b"}, "thread_id"),
    ({"question": "hi", "specialist": "websearch"}, "'websearch' is not set up here"),
    ({"question": "hi", "specialist": "nobody"}, "specialist"),
    ({}, "question"),
])
async def test_bad_arguments_are_tool_errors(offline_server: LiveServer,
                                             arguments: dict[str, Any], message: str) -> None:
    async with connect(offline_server) as client:
        result = await client.call_tool("ask", arguments)
    assert result.is_error
    assert message in result.content[0].text  # type: ignore[union-attr]


async def test_an_unknown_tool_is_an_error(offline_server: LiveServer) -> None:
    async with connect(offline_server) as client:
        result = await client.call_tool("delete_everything", {})
    assert result.is_error


@pytest.mark.parametrize(("headers", "body", "status", "code"), [
    ({**JSON_RPC, "Content-Type": "text/plain"}, b"{}", 415, -32600),
    (JSON_RPC, b"{not json", 400, -32700),
    (JSON_RPC, b'{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ask", '
     b'"arguments": {"question": "\\ud800"}}}', 400, -32600),
    (JSON_RPC, b"{" + b" " * 900_000 + b"}", 413, -32600),
    (JSON_RPC, b'{"jsonrpc": "2.0"}', 400, -32602),  # the SDK's: not a JSON-RPC message
    ({"Content-Type": "application/json", "Accept": "text/html"},
     b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}', 406, -32600),  # the SDK's
])
def test_bad_http_input_is_a_json_rpc_error(offline_server: LiveServer, headers: dict[str, str],
                                            body: bytes, status: int, code: int) -> None:
    resp = requests.post(f"{offline_server.url}/mcp", data=body, headers=headers, timeout=30)
    assert resp.status_code == status, resp.text
    payload = resp.json()
    assert payload["jsonrpc"] == "2.0" and payload["id"] is None
    assert payload["error"]["code"] == code and payload["error"]["message"]


def test_the_apps_own_host_name_is_served(offline_server: LiveServer) -> None:
    # The SDK refuses a Host other than 127.0.0.1/localhost by default (421): not here.
    resp = requests.post(f"{offline_server.url}/mcp", timeout=30,
                         headers={**JSON_RPC, "Host": "smartbot.azurewebsites.net",
                                  "Origin": "https://smartbot.azurewebsites.net"},
                         data=b'{"jsonrpc": "2.0", "id": 7, "method": "tools/list"}')
    assert resp.status_code == 200, resp.text
    assert [t["name"] for t in resp.json()["result"]["tools"]] == ["ask"]


def test_get_has_no_stream_to_offer(offline_server: LiveServer) -> None:
    resp = requests.get(f"{offline_server.url}/mcp", headers={"Accept": "text/event-stream"},
                        timeout=30)
    assert resp.status_code == 405 and resp.headers["allow"] == "POST, OPTIONS"


async def test_easy_auth_reaches_the_tool(tmp_path: Path) -> None:
    with live_server(tmp_path, {"MODEL_PROVIDER": "offline", "DOCS_DIR": str(CORPUS),
                                "AUTH_MODE": "easyauth"}) as server:
        anonymous = requests.post(f"{server.url}/mcp", headers=JSON_RPC, timeout=30,
                                  data=b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}')
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "Sign in" in anonymous.json()["error"]["message"]
        async with connect(server, signed_in("alice")) as alice:
            mine = await alice.call_tool("ask", {"question": MOON, "thread_id": "alice-mcp"})
        assert not mine.is_error, mine.content
        async with connect(server, signed_in("bob")) as bob:
            theirs = await bob.call_tool("ask", {"question": MOON, "thread_id": "alice-mcp"})
            new = await bob.call_tool("ask", {"question": MOON})
        assert theirs.is_error
        assert "No thread with thread_id 'alice-mcp'" in theirs.content[0].text  # type: ignore[union-attr]
        assert not new.is_error


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, FakeOpenAI]]:
    with model_and_server(tmp_path_factory.mktemp("mcp"),
                          {"DOCS_DIR": str(CORPUS)}) as (model, server):
        yield server, model


async def test_a_busy_thread_is_a_tool_error_saying_when_to_retry(
        stand_in: tuple[LiveServer, FakeOpenAI]) -> None:
    server, model = stand_in
    hold = threading.Event()
    model.add(Turn(tool_calls=SEARCH.tool_calls, hold=hold), Turn(chunks=["Far."]))
    calls = len(model.requests)
    first = threading.Thread(target=requests.post, args=(f"{server.url}/invoke",), kwargs={
        "json": {"user_input": MOON, "thread_id": "mcp-busy"}, "timeout": 60})
    first.start()
    try:
        deadline = time.monotonic() + 20
        while len(model.requests) == calls:
            assert time.monotonic() < deadline, "the first turn never reached the model"
            time.sleep(0.02)  # polling for the stand-in to be called
        async with connect(server) as client:
            busy = await client.call_tool("ask", {"question": MOON, "thread_id": "mcp-busy"})
    finally:
        hold.set()
        first.join()
    assert busy.is_error
    assert "is busy with another turn; try again in" in busy.content[0].text  # type: ignore[union-attr]


def _request(body: dict[str, Any]) -> Request:
    return starlette_request("POST", "/mcp", json.dumps(body).encode(),
                             headers={"accept": "application/json, text/event-stream"})


async def test_the_functions_trigger_serves_the_same_protocol(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import function_app
    from agent.runtime import close_bot
    from agent.settings import get_settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DOCS_DIR", str(CORPUS))
    monkeypatch.setenv("MODEL_PROVIDER", "offline")
    get_settings.cache_clear()
    try:
        init = await function_app.mcp(_request({
            "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "test", "version": "1"}}}))
        assert init.status_code == 200
        assert json.loads(bytes(init.body))["result"]["serverInfo"]["name"] == "smartbot"
        called = await function_app.mcp(_request({
            "jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "ask", "arguments": {"question": MOON}}}))
        result = json.loads(bytes(called.body))["result"]
        assert not result["isError"] and "384,400" in result["structuredContent"]["answer"]
        assert called.headers["content-length"] == str(len(bytes(called.body)))
    finally:
        await close_bot()
        get_settings.cache_clear()
