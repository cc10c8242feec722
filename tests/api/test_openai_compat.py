"""The OpenAI-compatible API through clients none of us wrote: the official `openai` SDK (sync and
async, streamed and not, usage) and LangChain's `ChatOpenAI`, against the real dev server.

The offline server answers from the test corpus; the server on the OpenAI stand-in
(`standins.model_service`) gives real token counts, shows what the model was sent (the
request's earlier messages as context), and fails as the service fails (429, a busy thread, a
stream cut mid-answer). Bad input gets OpenAI's error shape with the status the SDK maps.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import requests
from langchain_core.messages import AIMessage, HumanMessage
from langchain_openai import ChatOpenAI

from standins.model_service import FakeOpenAI, Turn, rate_limited
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.dev_server import model_and_server
from tests.support.easyauth import signed_in

MOON = [{"role": "user", "content": "@docsearch how far away is the Moon?"}]
SEARCH = Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "Moon"}}])


def client(server: LiveServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0,
                         **kwargs)


def wait_for(predicate: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling for a state the server reaches on its own


def stored_threads(data_dir: Path) -> set[str]:
    """The threads in the server's SQLite store (none before the bot has built it)."""
    try:
        with sqlite3.connect(f"file:{data_dir / 'threads.sqlite'}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT DISTINCT thread_id FROM checkpoints")}
    except sqlite3.OperationalError:  # no store yet
        return set()


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, FakeOpenAI,
                                                                          Path]]:
    """The dev server on the OpenAI stand-in, no retries (a failure shows at once)."""
    data_dir = tmp_path_factory.mktemp("openai-compat")
    with model_and_server(data_dir, {"DOCS_DIR": str(CORPUS)}) as (model, server):
        yield server, model, data_dir


def test_models_are_the_bot_and_each_specialist(offline_server: LiveServer) -> None:
    models = client(offline_server).models.list()
    ids = [m.id for m in models.data]
    assert ids == ["smartbot", "smartbot-chat", "smartbot-docsearch", "smartbot-sqlsearch"]
    assert all(m.object == "model" and m.owned_by == "smartbot" for m in models.data)


def test_sync_sdk_answers_with_citations_in_the_content(offline_server: LiveServer) -> None:
    completion = client(offline_server).chat.completions.create(
        model="smartbot-docsearch", messages=[{"role": "user", "content": "How far is the Moon?"}],
        temperature=0.2, user="someone")  # accepted and ignored
    assert completion.object == "chat.completion"
    assert completion.model == "smartbot-docsearch"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert "384,400" in (choice.message.content or "")
    assert "[[1]](corpus/moon.md#the-moon)" in (choice.message.content or "")
    assert completion.usage is not None and completion.usage.total_tokens == 0  # offline model


def test_sync_sdk_stream_ends_with_usage_then_done(offline_server: LiveServer) -> None:
    whole = client(offline_server).chat.completions.create(model="smartbot", messages=MOON)
    chunks = list(client(offline_server).chat.completions.create(
        model="smartbot", messages=MOON, stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 5  # tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # the usage chunk
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1 and chunks[0].object == "chat.completion.chunk"


async def test_async_sdk_streamed_and_not(offline_server: LiveServer) -> None:
    async with openai.AsyncOpenAI(base_url=f"{offline_server.url}/v1", api_key="unused",
                                  max_retries=0) as sdk:
        whole = await sdk.chat.completions.create(model="smartbot-docsearch", messages=MOON)
        stream = await sdk.chat.completions.create(model="smartbot-docsearch", messages=MOON,
                                                   stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert "384,400" in text and text == whole.choices[0].message.content


def test_langchain_chat_openai_invokes_and_streams(offline_server: LiveServer) -> None:
    chat = ChatOpenAI(base_url=f"{offline_server.url}/v1", api_key="unused",
                      model="smartbot-docsearch", max_retries=0, stream_usage=True)
    reply = chat.invoke([HumanMessage("What raises the tides?")])
    assert isinstance(reply, AIMessage) and "(corpus/moon.md#tides)" in reply.text
    chunks = list(chat.stream("What raises the tides?"))
    assert "".join(c.text for c in chunks) == reply.text
    assert [c.usage_metadata for c in chunks if c.usage_metadata] == [  # the usage chunk
        {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0,
         "input_token_details": {"cache_read": 0}, "output_token_details": {"reasoning": 0}}]


def test_a_named_thread_keeps_the_conversation(offline_server: LiveServer) -> None:
    sdk = client(offline_server)
    raw = sdk.chat.completions.with_raw_response.create(
        model="smartbot-docsearch", messages=MOON, extra_headers={"X-Thread-Id": "oa-thread-1"})
    assert raw.headers["x-thread-id"] == "oa-thread-1"
    # The thread is the conversation: earlier messages of the request are not read.
    sdk.chat.completions.create(model="smartbot-docsearch", metadata={"thread_id": "oa-thread-1"},
                                messages=[{"role": "user", "content": "ignored"},
                                          {"role": "user", "content": "And the tides?"}])
    thread = requests.get(f"{offline_server.url}/threads/oa-thread-1", timeout=30).json()
    questions = [m["content"] for m in thread["messages"] if m["role"] == "user"]
    assert len(questions) == 2 and not any("ignored" in q for q in questions)
    assert questions[0].endswith("how far away is the Moon?")
    assert questions[1].endswith("And the tides?")
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.chat.completions.create(model="smartbot", messages=MOON,
                                    metadata={"thread_id": "oa-thread-2"},
                                    extra_headers={"X-Thread-Id": "oa-thread-1"})
    assert refused.value.body["param"] == "metadata.thread_id"  # type: ignore[index]


@pytest.mark.parametrize(("kwargs", "param", "code"), [
    ({"n": 2}, "n", "unsupported_parameter"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools",
     "unsupported_parameter"),
    ({"response_format": {"type": "json_object"}}, "response_format", "unsupported_parameter"),
    ({"logprobs": True}, "logprobs", "unsupported_parameter"),
    ({"max_tokens": 10}, "max_tokens", "unsupported_parameter"),
    ({"stop": ["\n"]}, "stop", "unsupported_parameter"),
    ({"temperature": 5}, "temperature", "invalid_value"),
    ({"extra_body": {"foo": 1}}, "foo", "unknown_parameter"),
    ({"messages": [{"role": "assistant", "content": "Hello"}]}, "messages[0].role",
     "invalid_value"),
    ({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]},
     "messages[0].content[0].type", "unsupported_content"),
    ({"messages": [{"role": "tool", "content": "x", "tool_call_id": "c"}]}, "messages[0].role",
     "unsupported_content"),
    ({"messages": []}, "messages", "invalid_value"),
    ({"messages": [{"role": "user", "content": " \n"}]}, "messages[0].content", "invalid_value"),
])
def test_what_the_bot_cant_honour_is_refused_naming_it(
        offline_server: LiveServer, kwargs: dict[str, Any], param: str, code: str) -> None:
    arguments: dict[str, Any] = {"model": "smartbot", "messages": MOON, **kwargs}
    with pytest.raises(openai.BadRequestError) as refused:
        client(offline_server).chat.completions.create(**arguments)
    error = refused.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)
    assert param.split("[")[0].split(".")[0] in error["message"]


def test_neutral_values_of_refused_parameters_are_accepted(offline_server: LiveServer) -> None:
    completion = client(offline_server).chat.completions.create(
        model="smartbot", messages=[{"role": "system", "content": "Be brief."}, *MOON], n=1,
        tools=[], logprobs=False, response_format={"type": "text"}, store=False, seed=3,
        top_p=1, presence_penalty=0, frequency_penalty=0)
    assert "384,400" in (completion.choices[0].message.content or "")


def test_unknown_model_is_404_model_not_found(offline_server: LiveServer) -> None:
    for model in ("gpt-4o", "smartbot-websearch"):  # websearch isn't set up offline
        with pytest.raises(openai.NotFoundError) as missing:
            client(offline_server).chat.completions.create(model=model, messages=MOON)
        assert missing.value.code == "model_not_found"
        assert "smartbot-docsearch" in missing.value.message


@pytest.mark.parametrize(("headers", "body", "status", "code"), [
    ({"Content-Type": "text/plain"}, b"{}", 415, "unsupported_media_type"),
    ({"Content-Type": "application/json"}, b"{not json", 400, "invalid_request"),
    ({"Content-Type": "application/json"}, b'{"model": "smartbot", "messages": '
     b'[{"role": "user", "content": "\\ud800"}]}', 400, "invalid_request"),
    ({"Content-Type": "application/json"}, b"[1]", 400, "invalid_value"),
    ({"Content-Type": "application/json"}, b'{"model": 1, "messages": []}', 400,
     "invalid_value"),
    ({"Content-Type": "application/json", "X-Thread-Id": "a/b"}, b'{"model": "smartbot", '
     b'"messages": [{"role": "user", "content": "hi"}]}', 400, "invalid_value"),
    ({"Content-Type": "application/json"}, b"{" + b" " * 900_000 + b"}", 413,
     "request_too_large"),
])
def test_bad_bodies_get_openai_errors(offline_server: LiveServer, headers: dict[str, str],
                                      body: bytes, status: int, code: str) -> None:
    resp = requests.post(f"{offline_server.url}/v1/chat/completions", data=body,
                         headers=headers, timeout=30)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code and error["type"] == "invalid_request_error"


def test_usage_and_context_come_from_the_model_service_and_nothing_is_kept(
        stand_in: tuple[LiveServer, FakeOpenAI, Path]) -> None:
    server, model, data_dir = stand_in
    model.add(SEARCH, Turn(chunks=["The Moon ", "is far."], reasoning_tokens=3))
    invoked = requests.post(f"{server.url}/invoke", json={"user_input": MOON[0]["content"]},
                            timeout=30).json()
    before = stored_threads(data_dir)
    assert invoked["thread_id"] in before
    model.add(SEARCH, Turn(chunks=["The Moon ", "is far."], reasoning_tokens=3))
    chunks = list(client(server).chat.completions.create(
        model="smartbot-docsearch", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "My name is Ann."},
                  {"role": "assistant", "content": "Hello Ann."}, *MOON]))
    usage = chunks[-1].usage
    assert usage is not None and usage.total_tokens > 0
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        invoked["usage"]["input_tokens"], invoked["usage"]["output_tokens"],
        invoked["usage"]["total_tokens"])
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 3
    sent = [(m["role"], m.get("content")) for m in model.requests[-1].body["messages"]
            if m["role"] in ("user", "assistant") and m.get("content")]
    assert sent[:2] == [("user", "My name is Ann."), ("assistant", "Hello Ann.")]
    assert stored_threads(data_dir) == before  # the stateless turn kept no thread


def test_a_rate_limited_model_is_429_with_retry_after(
        stand_in: tuple[LiveServer, FakeOpenAI, Path]) -> None:
    server, model, _ = stand_in
    model.add(rate_limited(retry_after=7))
    with pytest.raises(openai.RateLimitError) as limited:
        client(server).chat.completions.create(model="smartbot-docsearch", messages=MOON)
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.body["type"] == "rate_limit_error"  # type: ignore[index]


def test_a_busy_thread_is_409_with_retry_after_streamed_or_not(
        stand_in: tuple[LiveServer, FakeOpenAI, Path]) -> None:
    server, model, _ = stand_in
    hold = threading.Event()
    model.add(Turn(tool_calls=SEARCH.tool_calls, hold=hold), Turn(chunks=["Far."]))
    calls = len(model.requests)
    first = threading.Thread(target=lambda: client(server).chat.completions.create(
        model="smartbot-docsearch", messages=MOON, extra_headers={"X-Thread-Id": "oa-busy"}))
    first.start()
    try:
        wait_for(lambda: len(model.requests) > calls, "the first turn to reach the model")
        for stream in (False, True):
            with pytest.raises(openai.ConflictError) as busy:
                client(server).chat.completions.create(
                    model="smartbot-docsearch", messages=MOON, stream=stream,
                    extra_headers={"X-Thread-Id": "oa-busy"})
            assert busy.value.code == "thread_busy"
            assert 1 <= int(busy.value.response.headers["retry-after"]) <= 5
    finally:
        hold.set()
        first.join()


def test_a_stream_cut_by_the_model_service_ends_with_an_error_the_sdk_raises(
        stand_in: tuple[LiveServer, FakeOpenAI, Path]) -> None:
    server, model, _ = stand_in
    model.add(SEARCH, Turn(chunks=[f"tok{i} " for i in range(10)], fail_after=3))
    received: list[str] = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in client(server).chat.completions.create(
                model="smartbot-docsearch", messages=MOON, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "tok0 tok1 tok2 "
    assert failed.value.body["type"] == "server_error"  # type: ignore[index]


def test_easy_auth_owner_and_401(tmp_path: Path) -> None:
    with live_server(tmp_path, {"MODEL_PROVIDER": "offline", "DOCS_DIR": str(CORPUS),
                                "AUTH_MODE": "easyauth"}) as server:
        with pytest.raises(openai.AuthenticationError) as unauthorized:
            client(server).chat.completions.create(model="smartbot", messages=MOON)
        assert unauthorized.value.response.headers["www-authenticate"].startswith("Bearer")
        with pytest.raises(openai.AuthenticationError):
            client(server).models.list()
        alice = client(server, default_headers={**signed_in("alice"),
                                                 "X-Thread-Id": "alice-oa"})
        bob = client(server, default_headers={**signed_in("bob"), "X-Thread-Id": "alice-oa"})
        assert "384,400" in (alice.chat.completions.create(
            model="smartbot", messages=MOON).choices[0].message.content or "")
        for stream in (False, True):
            with pytest.raises(openai.NotFoundError):
                bob.chat.completions.create(model="smartbot", messages=MOON, stream=stream)
        stateless = client(server, default_headers=signed_in("bob"))
        assert stateless.chat.completions.create(model="smartbot", messages=MOON).choices


def test_the_sdk_sends_the_function_key_as_a_default_header(offline_server: LiveServer) -> None:
    seen: list[httpx.Request] = []
    sdk = client(offline_server, default_headers={"x-functions-key": "the-key"},
                 http_client=httpx.Client(event_hooks={"request": [seen.append]}))
    sdk.models.list()
    assert seen[0].headers["x-functions-key"] == "the-key"


def test_a_client_leaving_mid_stream_cancels_the_run_and_keeps_nothing(
        stand_in: tuple[LiveServer, FakeOpenAI, Path]) -> None:
    server, model, data_dir = stand_in
    model.add(SEARCH, Turn(chunks=[f"tok{i} " for i in range(400)], delay=0.02))
    first_outcome = len(model.outcomes)
    before = stored_threads(data_dir)
    stream = client(server).chat.completions.create(
        model="smartbot-docsearch", stream=True,
        messages=[{"role": "user", "content": "Hi."}, {"role": "assistant", "content": "Hi!"},
                  *MOON])  # a history: the turn runs on a thread seeded with it
    for seen, _ in enumerate(stream):
        if seen == 3:
            break
    stream.close()
    wait_for(lambda: len(model.outcomes) == first_outcome + 2 and model.outcomes[-1].cancelled,
             "the model stream to be cancelled")
    assert model.outcomes[-1].chunks_sent < 200 and not model.outcomes[-1].completed
    wait_for(lambda: stored_threads(data_dir) == before, "the throwaway thread to be deleted")
