"""Model failures reach the client by what happened, the same on every route.

The real dev server (Azure provider, v1 API, key auth, one SDK retry, 1 s model timeout) talks
to the loopback Azure OpenAI stand-in, which fails as Azure does: its status, error body and
headers (`retry-after`), a connection dropped mid-stream, `finish_reason: content_filter`, a
key it doesn't know, a deployment it doesn't have, or no server at all. Each failure kind is
asserted on `/invoke` (status, message, headers), on a `/batch` item and as the `/stream`
`error` event, which ends the stream (never an `end` that looks complete). No answer carries
the key or a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from standins.loopback_http import serve_app
from standins.model_service import (
    FakeOpenAI,
    Turn,
    azure_error,
    fake_openai,
    prompt_filtered,
    rate_limited,
    server_error,
)
from standins.processes import LiveServer, free_port, live_server
from tests.conftest import CORPUS
from tests.support.openapi_events import check_events
from tests.support.sse import Event, by_type, stream

DEPLOYMENT = "gpt-5.4-mini"
API_KEY = "failure-test-key-d41d8cd98f00b204"
QUESTION = "@docsearch how far away is the Moon?"
SEARCH = Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "Moon"}}])


def _env(endpoint: str, **extra: str) -> dict[str, str]:
    return {"MODEL_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": endpoint,
            "AZURE_OPENAI_CHAT_DEPLOYMENT": DEPLOYMENT, "AZURE_OPENAI_API_KEY": API_KEY,
            "MODEL_MAX_RETRIES": "1", "MODEL_TIMEOUT_SECONDS": "1", "DOCS_DIR": str(CORPUS),
            **extra}


@dataclass
class Case:
    """One failure kind: how the stand-in fails, and what the client must see."""

    script: Callable[[], list[Turn]]
    status: int
    message: tuple[str, ...]
    model_requests: int
    headers: dict[str, str] = field(default_factory=dict)
    streamed_first: int = 0  # data events before the error


CASES = {
    "5xx after the SDK's retry": Case(
        lambda: [server_error(500), server_error(503)], 502,
        ("could not answer (HTTP 503)", "AZURE_OPENAI_ENDPOINT"), 2),
    "429 after the SDK's retry": Case(
        lambda: [rate_limited(1), rate_limited(1)], 429,
        ("rate limited", "Try again in 1 s"), 2, {"retry-after": "1"}),
    "timeout before the response, after the SDK's retry": Case(
        lambda: [Turn(chunks=["late"], header_delay=3), Turn(chunks=["late"], header_delay=3)],
        504, ("MODEL_TIMEOUT_SECONDS (1 s)",), 2),
    "stream stalled before the first chunk": Case(
        lambda: [Turn(chunks=["late"], first_delay=3)], 504, ("MODEL_TIMEOUT_SECONDS (1 s)",), 1),
    "connection cut mid-stream": Case(
        lambda: [SEARCH, Turn(chunks=["The Moon ", "is ", "far ", "away."], fail_after=2)],
        502, ("could not answer (the connection was cut)", "AZURE_OPENAI_ENDPOINT"), 2,
        streamed_first=2),
    "content filter on the prompt": Case(
        lambda: [prompt_filtered()], 400, ("content policy", "blocked this request"), 1),
    "content filter mid-stream": Case(
        lambda: [SEARCH, Turn(chunks=["The Moon ", "is "], finish_reason="content_filter")],
        400, ("content policy", "stopped the answer"), 2, streamed_first=2),
    "any other refusal (a parameter the deployment refuses)": Case(
        lambda: [azure_error(400, "unsupported_value", "Unsupported value: 'temperature' does "
                             "not support 0.0 with this model. Only the default (1) value is "
                             "supported.", param="temperature", type="invalid_request_error")],
        502, ("refused the request (HTTP 400: unsupported_value, parameter 'temperature')",
              "MODEL_* settings"), 1),
    "403 identity without the role": Case(
        lambda: [azure_error(403, "PermissionDenied", "The principal lacks the required data "
                             "action Microsoft.CognitiveServices/accounts/OpenAI/deployments/"
                             "chat/completions/action.")],
        502, ("denied access (403)", "Cognitive Services OpenAI User"), 1),
}


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    with fake_openai(deployments={DEPLOYMENT: "reasoning"}, api_keys={API_KEY}) as (
            model, base_url), live_server(tmp_path_factory.mktemp("failures"),
                                          _env(base_url)) as server:
        yield model, server


_documents: dict[str, dict[str, Any]] = {}


def _served_document(server: LiveServer) -> dict[str, Any]:
    """The OpenAPI document this server serves (fetched once per server)."""
    if server.url not in _documents:
        resp = requests.get(f"{server.url}/openapi.json", timeout=10)
        resp.raise_for_status()
        _documents[server.url] = resp.json()
    return _documents[server.url]


def _assert_plain(text: str) -> None:
    assert API_KEY not in text and "Traceback" not in text and "File \"" not in text


def _call(route: str, server: LiveServer, thread_id: str) -> tuple[int, str, dict[str, str],
                                                                   list[Event]]:
    """(status, message, headers, events) of one question that fails, on one route."""
    if route == "invoke":
        r = requests.post(f"{server.url}/invoke", json={"user_input": QUESTION,
                                                          "thread_id": thread_id}, timeout=60)
        _assert_plain(r.text)
        return r.status_code, r.json()["detail"], {k.lower(): v for k, v in r.headers.items()}, []
    if route == "batch":
        r = requests.post(f"{server.url}/batch", json={"questions": [QUESTION],
                                                         "thread_id": thread_id}, timeout=60)
        _assert_plain(r.text)
        assert r.status_code == 200
        [item] = r.json()["results"]
        assert item["status"] == "error" and r.json()["answers"] == [item["answer"]]
        assert item["answer"] == f"Failed: {item['error']}"
        headers = {"retry-after": str(item["retry_after"])} if item["retry_after"] else {}
        return item["status_code"], item["error"], headers, []
    response, events = stream(f"{server.url}/stream", {"user_input": QUESTION,
                                                       "thread_id": thread_id})
    assert response.status_code == 200
    for event in events:
        _assert_plain(event.data)
    assert events[0].event == "metadata" and events[-1].event == "error"
    assert not by_type(events, "end"), "a failed run must not end like a complete answer"
    # Every event, the error of each failure kind included, is one the server documents.
    check_events(_served_document(server),
                 [{"event": e.event, "data": e.data, "id": e.id} for e in events])
    error = events[-1].json()
    assert error["run_id"] == events[0].json()["run_id"]
    headers = {"retry-after": str(error["retry_after"])} if "retry_after" in error else {}
    return error["status_code"], error["message"], headers, events


@pytest.mark.parametrize("route", ["invoke", "batch", "stream"])
@pytest.mark.parametrize("kind", list(CASES))
def test_each_failure_kind_reaches_the_client_plainly(
    azure: tuple[FakeOpenAI, LiveServer], kind: str, route: str,
) -> None:
    model, server = azure
    case = CASES[kind]
    model.script.clear()
    model.add(*case.script())
    before = len(model.requests)

    status, message, headers, events = _call(route, server, f"{route}-{len(model.requests)}")

    assert status == case.status
    for part in case.message:
        assert part in message, message
    for name, value in case.headers.items():
        assert headers.get(name) == value, headers
    assert len(model.requests) - before == case.model_requests
    if route == "stream":
        assert len(by_type(events, "data")) == case.streamed_first


def test_a_thread_stays_usable_after_a_failed_turn(azure: tuple[FakeOpenAI, LiveServer]) -> None:
    model, server = azure
    model.script.clear()
    model.add(prompt_filtered())
    thread = "after-failure"
    assert requests.post(f"{server.url}/invoke", json={"user_input": QUESTION,
                                                         "thread_id": thread},
                         timeout=60).status_code == 400
    ok = requests.post(f"{server.url}/invoke", json={"user_input": QUESTION,
                                                       "thread_id": thread}, timeout=60)
    assert ok.status_code == 200 and ok.json()["final_answer"].startswith("Answer:")


@pytest.mark.parametrize(("setup", "status", "parts"), [
    ("wrong key", 502, ("refused the app's credentials (401)", "AZURE_OPENAI_API_KEY")),
    ("unknown deployment", 502, ("no deployment or model named 'gpt-5-nano' (404)",
                                 "AZURE_OPENAI_CHAT_DEPLOYMENT")),
    ("unreachable endpoint", 502, ("could not answer (no connection)",
                                   "AZURE_OPENAI_ENDPOINT")),
])
def test_misconfiguration_names_the_setting_to_fix(
    tmp_path: Path, setup: str, status: int, parts: tuple[str, ...],
) -> None:
    with fake_openai(deployments={DEPLOYMENT: "reasoning"}, api_keys={API_KEY}) as (
            model, base_url):
        env = _env(base_url)
        if setup == "wrong key":
            env["AZURE_OPENAI_API_KEY"] = "not-the-key"
        elif setup == "unknown deployment":
            env["AZURE_OPENAI_CHAT_DEPLOYMENT"] = "gpt-5-nano"
        else:
            env["AZURE_OPENAI_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
        with live_server(tmp_path, env) as server:
            for route in ("invoke", "batch", "stream"):
                got, message, _, _ = _call(route, server, f"misconfigured-{route}")
                assert got == status
                for part in parts:
                    assert part in message, message
        expected = {"wrong key": {401}, "unknown deployment": {404},
                    "unreachable endpoint": set()}[setup]
        assert {refusal.status for refusal in model.refusals} == expected
        for secret in (API_KEY, "not-the-key"):
            assert secret not in server.log(), "a key reached the server log"


SECRET = "Bearer sk-echoed-3f9a7c1e5b"
ECHOES = {
    "a refusal": lambda: [azure_error(400, SECRET, f"Invalid value {SECRET}", param=SECRET,
                                      type=SECRET)],
    "a refusal naming a nested parameter": lambda: [azure_error(
        400, "invalid_value", f"Bad {SECRET}", param="messages[1].content", type=SECRET)],
    "a 404": lambda: [azure_error(404, SECRET, f"No deployment {SECRET}")],
    "a 5xx": lambda: [azure_error(500, SECRET, f"Oops {SECRET}"),
                      azure_error(500, SECRET, f"Oops {SECRET}")],
}


@pytest.mark.parametrize("kind", list(ECHOES))
def test_nothing_an_upstream_error_says_reaches_the_client_or_the_log(
    azure: tuple[FakeOpenAI, LiveServer], kind: str,
) -> None:
    """The service puts a secret in every field of its error; clients on every route and the
    server log see none of it, only what the app says itself (an allow-listed code and our
    own request's parameter names)."""
    model, server = azure
    for route in ("invoke", "batch", "stream"):
        model.script.clear()
        model.add(*ECHOES[kind]())
        status, message, _, events = _call(route, server, f"echo-{route}-{len(model.requests)}")
        assert status == 502, (route, message)
        assert SECRET not in message and "sk-echoed" not in message
        assert all("sk-echoed" not in e.data for e in events)
        if kind == "a refusal naming a nested parameter":
            assert "invalid_value, parameter 'messages'" in message
    assert "sk-echoed" not in server.log()


def _garbage_service(body: bytes) -> Starlette:
    """A "model service" that answers 200 to every chat call, with `body`."""
    async def completions(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="text/event-stream")

    return Starlette(routes=[Route("/openai/v1/chat/completions", completions,
                                   methods=["POST"])])


@pytest.mark.parametrize("body", [
    b"<html><body>Service temporarily unavailable</body></html>",
    b"data: [1, 2, 3]\n\ndata: [DONE]\n\n",
    b"data: {not json at all\n\n",
    b'data: {"choices": "not a list"}\n\n',
], ids=["html", "not an object", "not json", "wrong shape"])
def test_a_200_with_garbage_is_a_502(tmp_path: Path, body: bytes) -> None:
    with serve_app(_garbage_service(body)) as base_url, live_server(
            tmp_path, _env(base_url, MODEL_MAX_RETRIES="0")) as server:
        for route in ("invoke", "batch", "stream"):
            status, message, _, _ = _call(route, server, f"garbage-{route}")
            assert status == 502, (route, message)
            assert "reply could not be read" in message and "AZURE_OPENAI_ENDPOINT" in message
