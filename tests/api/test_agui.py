"""AG-UI 1.0 at `/ag-ui` against the real dev server: every event of a run is validated with
`ag-ui-protocol`'s own models and checked in order, by our reading of the protocol and by an
independent conformance validator (`ag-ui-validate`); runs continue their thread; bad input,
another user's thread and a busy thread are refused before the stream as a `RUN_ERROR` in a JSON
body with the HTTP status; a run that fails midway ends with `RUN_ERROR`.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from ag_ui.core import Event, EventType, RunErrorEvent, RunFinishedEvent
from ag_ui_validate.pytest_plugin import assert_valid_agui
from pydantic import TypeAdapter
from sseclient import SSEClient

from agent.events import Answer, TokenUsage
from api.agui_events import RESUME_SCHEMA, EventWriter
from standins.model_service import FakeOpenAI, Turn
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.dev_server import model_and_server
from tests.support.easyauth import signed_in

EVENT = TypeAdapter(Event)
SEARCH = Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "Moon"}}])


def run_input(thread_id: str, question: Any = "@docsearch how far away is the Moon?",
              **extra: Any) -> dict[str, Any]:
    return {"threadId": thread_id, "runId": f"run-of-{thread_id}", "state": {}, "tools": [],
            "context": [], "forwardedProps": {},
            "messages": [{"id": "m0", "role": "assistant", "content": "Hello!"},
                         {"id": "m1", "role": "user", "content": question}], **extra}


def run(url: str, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> list[dict[str, Any]]:
    """The run's events, each validated with ag-ui-protocol's models."""
    with requests.post(f"{url}/ag-ui", json=body, headers=headers, stream=True,
                       timeout=60) as resp:
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(e.data) for e in SSEClient(resp).events()]
    for event in events:
        EVENT.validate_python(event)  # raises unless it is a valid AG-UI event
    return events


def check_order(events: list[dict[str, Any]]) -> None:
    """Our reading of the protocol's order rules, for the events this server sends."""
    assert events[0]["type"] == "RUN_STARTED"
    assert events[-1]["type"] in ("RUN_FINISHED", "RUN_ERROR")
    assert [e["type"] for e in events].count("RUN_STARTED") == 1
    open_text: str | None = None
    calls: dict[str, str] = {}  # tool call id -> its state
    for event in events[1:-1]:
        kind = event["type"]
        assert kind not in ("RUN_STARTED", "RUN_FINISHED", "RUN_ERROR")
        if kind == "TEXT_MESSAGE_START":
            assert open_text is None
            open_text = event["messageId"]
        elif kind in ("TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END"):
            assert event["messageId"] == open_text
            if kind == "TEXT_MESSAGE_END":
                open_text = None
        elif kind == "TOOL_CALL_START":
            assert open_text is None and event["toolCallId"] not in calls
            calls[event["toolCallId"]] = "open"
        elif kind in ("TOOL_CALL_ARGS", "TOOL_CALL_END"):
            assert calls[event["toolCallId"]] == "open"
            if kind == "TOOL_CALL_END":
                calls[event["toolCallId"]] = "ended"
        elif kind == "TOOL_CALL_RESULT":
            assert calls[event["toolCallId"]] == "ended"
            calls[event["toolCallId"]] = "answered"
    if events[-1]["type"] == "RUN_FINISHED":
        assert open_text is None and set(calls.values()) <= {"answered"}


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT")


def test_a_run_streams_valid_events_in_order(offline_server: LiveServer) -> None:
    events = run(offline_server.url, run_input("agui-1"))
    check_order(events)
    assert_valid_agui(events, max_warnings=0)
    kinds = [e["type"] for e in events]
    assert kinds[:4] == ["RUN_STARTED", "TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END"]
    assert kinds[4:6] == ["TOOL_CALL_RESULT", "TEXT_MESSAGE_START"]
    assert events[0]["threadId"] == events[-1]["threadId"] == "agui-1"
    assert events[0]["runId"] == events[-1]["runId"] == "run-of-agui-1"
    start = events[1]
    assert start["toolCallName"] == "search_documents"
    assert start["metadata"] == {"agent": "docsearch"}
    assert json.loads(events[2]["delta"]) == {"query": "how far away is the Moon?"}
    assert "corpus/moon.md#the-moon" in events[4]["content"]
    answer = text_of(events)
    assert "384,400" in answer and "[[1]](corpus/moon.md#the-moon)" in answer
    finished = RunFinishedEvent.model_validate(events[-1])
    assert finished.outcome is not None and finished.outcome.type == "success"
    assert finished.result == {"agent": "docsearch"} and finished.usage is not None


def test_runs_on_a_thread_continue_it(offline_server: LiveServer) -> None:
    run(offline_server.url, run_input("agui-thread"))
    parts = [{"type": "text", "text": "@docsearch and what"},
             {"type": "text", "text": "raises tides?"}]
    second = run(offline_server.url, run_input("agui-thread", parts))
    assert "(corpus/moon.md#tides)" in text_of(second)
    thread = requests.get(f"{offline_server.url}/threads/agui-thread", timeout=30).json()
    questions = [m["content"] for m in thread["messages"] if m["role"] == "user"]
    assert questions == ["@docsearch how far away is the Moon?",
                         "@docsearch and what\nraises tides?"]


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(("body", "headers", "status", "needle"), [
    (_without(run_input("x"), "threadId"), {}, 422, "threadId"),
    (run_input("a/b"), {}, 422, "threadId: must not contain '/'"),
    ({**run_input("x"), "messages": [{"id": "1", "role": "assistant", "content": "hi"}]}, {},
     422, "the last message must be the user's question"),
    (run_input("x", [{"type": "image", "source": {"type": "url", "value": "https://e.x/a.png"}}]),
     {}, 422, "only text is understood"),
    (run_input("x", "  "), {}, 422, "must not be empty"),
    (run_input("x", "q" * 8001), {}, 422, "MAX_INPUT_CHARS"),
    (run_input("x", resume=[{"interruptId": "i-1", "status": "resolved",
                             "payload": {"decision": "maybe"}}]), {}, 422, "decision"),
    (run_input("x", resume=[{"interruptId": "i-1", "status": "resolved",
                             "payload": {"decision": "approve"}}]), {}, 404, "waits for a"),
    ("not json", {"Content-Type": "application/json"}, 400, "not valid JSON"),
    (run_input("x"), {"Content-Type": "text/plain"}, 415, "Content-Type"),
])
def test_bad_input_is_refused_as_run_error(offline_server: LiveServer, body: Any,
                                           headers: dict[str, str], status: int,
                                           needle: str) -> None:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    resp = requests.post(f"{offline_server.url}/ag-ui", data=data, timeout=30,
                         headers={"Content-Type": "application/json", **headers})
    assert resp.status_code == status, resp.text
    error = RunErrorEvent.model_validate(resp.json())
    assert error.type == EventType.RUN_ERROR and needle in error.message


def test_an_oversized_body_is_413(offline_server: LiveServer) -> None:
    resp = requests.post(f"{offline_server.url}/ag-ui", data=b"{" + b" " * 900_000 + b"}",
                         headers={"Content-Type": "application/json"}, timeout=30)
    assert resp.status_code == 413
    assert RunErrorEvent.model_validate(resp.json()).code == "too_large"


def test_easy_auth_401_and_another_users_thread(tmp_path: Path) -> None:
    with live_server(tmp_path, {"MODEL_PROVIDER": "offline", "DOCS_DIR": str(CORPUS),
                                "AUTH_MODE": "easyauth"}) as server:
        anonymous = requests.post(f"{server.url}/ag-ui", json=run_input("alice-agui"),
                                  timeout=30)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert RunErrorEvent.model_validate(anonymous.json()).code == "unauthorized"
        check_order(run(server.url, run_input("alice-agui"), signed_in("alice")))
        foreign = requests.post(f"{server.url}/ag-ui", json=run_input("alice-agui"),
                                headers=signed_in("bob"), timeout=30)
        assert foreign.status_code == 404
        assert RunErrorEvent.model_validate(foreign.json()).code == "not_found"


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, FakeOpenAI]]:
    with model_and_server(tmp_path_factory.mktemp("agui"),
                          {"DOCS_DIR": str(CORPUS)}) as (model, server):
        yield server, model


def test_a_busy_thread_is_409_before_the_stream(stand_in: tuple[LiveServer, FakeOpenAI]) -> None:
    server, model = stand_in
    hold = threading.Event()
    model.add(Turn(tool_calls=SEARCH.tool_calls, hold=hold), Turn(chunks=["Far."]))
    calls = len(model.requests)
    first = threading.Thread(target=run, args=(server.url, run_input("agui-busy")))
    first.start()
    try:
        deadline = time.monotonic() + 20
        while len(model.requests) == calls:
            assert time.monotonic() < deadline, "the first run never reached the model"
            time.sleep(0.02)  # polling for the stand-in to be called
        busy = requests.post(f"{server.url}/ag-ui", json=run_input("agui-busy"), timeout=30)
    finally:
        hold.set()
        first.join()
    assert busy.status_code == 409 and 1 <= int(busy.headers["retry-after"]) <= 5
    assert RunErrorEvent.model_validate(busy.json()).code == "thread_busy"


def test_a_run_that_fails_midway_ends_with_run_error(
        stand_in: tuple[LiveServer, FakeOpenAI]) -> None:
    server, model = stand_in
    model.add(SEARCH, Turn(chunks=[f"tok{i} " for i in range(10)], fail_after=3))
    events = run(server.url, run_input("agui-cut"))
    check_order(events)
    assert_valid_agui(events, max_warnings=0)
    assert text_of(events) == "tok0 tok1 tok2 "
    error = RunErrorEvent.model_validate(events[-1])
    assert error.code == "upstream_error" and "model service" in error.message


@dataclasses.dataclass(frozen=True)
class _Paused:
    interrupt_id: str = "int-1"
    agent: str = "sqlsearch"
    tool: str = "sql_db_query"
    tool_call_id: str = "call-1"
    args: dict[str, Any] = dataclasses.field(default_factory=lambda: {"query": "SELECT 1"})


@dataclasses.dataclass(frozen=True)
class _PausedAnswer(Answer):
    interrupt: _Paused | None = None


def test_a_paused_run_finishes_with_the_interrupt_outcome() -> None:
    # The hook for approvals (issue 24): an Answer carrying `interrupt` ends the run that way.
    writer = EventWriter("t-1", "r-1")
    raw = writer.finished(_PausedAnswer(text="", agent="sqlsearch", usage=TokenUsage(),
                                        interrupt=_Paused()))
    event = RunFinishedEvent.model_validate_json(raw.decode().removeprefix("data: "))
    assert event.outcome is not None and event.outcome.type == "interrupt"
    interrupt = event.outcome.interrupts[0]  # type: ignore[union-attr]
    assert (interrupt.id, interrupt.tool_call_id, interrupt.reason) == (
        "int-1", "call-1", "tool_approval")
    assert interrupt.response_schema == RESUME_SCHEMA
    assert interrupt.metadata == {"agent": "sqlsearch", "tool": "sql_db_query",
                                  "args": {"query": "SELECT 1"}}


def test_a_finished_run_reports_every_kind_of_token() -> None:
    writer = EventWriter("t-1", "r-1")
    usage = TokenUsage(input_tokens=120, output_tokens=30, reasoning_tokens=12,
                       total_tokens=150, cached_input_tokens=64)
    raw = writer.finished(Answer(text="hi", agent="docsearch", usage=usage))
    event = RunFinishedEvent.model_validate_json(raw.decode().split("data: ")[-1])
    assert event.usage is not None and len(event.usage) == 1
    reported = event.usage[0]
    assert (reported.input_tokens, reported.output_tokens, reported.total_tokens,
            reported.reasoning_tokens, reported.cached_input_tokens) == (120, 30, 150, 12, 64)
