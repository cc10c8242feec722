"""Tool calls a person approves first (APPROVE_TOOLS), through the real dev server with the
offline model: every `@docsearch` search waits for a decision.

A question pauses before the search (`/stream`: `interrupt` then `end`, checked against the
served OpenAPI document; `/invoke`: `final_answer` null and the call under `interrupt`;
`/batch`: items `interrupted`); the thread shows the waiting call as `pending`. A decision
resumes the run on `/invoke` or `/stream`: approve runs the call as shown, edit runs it with the
person's arguments, reject runs nothing and the answer says so. A second decision is 409, an
id no call has 404, edited arguments the tool refuses 422 with the call still waiting, bodies
with both or neither of `user_input` and `resume` 422 naming the fields. A new question on a
paused thread declines the waiting call (recorded in the thread) and goes on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.openapi_events import check_events
from tests.support.sse import Event, by_type, stream

TIMEOUT = 60
TIDES = "@docsearch what raises the tides?"
WIRE_KEYS = {"run_id", "thread_id", "interrupt_id", "agent", "tool", "tool_call_id", "args"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("approvals"), {
            "MODEL_PROVIDER": "offline", "DOCS_DIR": str(CORPUS),
            "APPROVE_TOOLS": "docsearch"}) as live:
        yield live


def invoke(url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{url}/invoke", json=body, timeout=TIMEOUT)


def paused(url: str, thread_id: str, question: str = TIDES) -> dict[str, Any]:
    """Ask on `thread_id`; the run pauses: the waiting call."""
    resp = invoke(url, {"user_input": question, "thread_id": thread_id})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["final_answer"] is None and body["agent"] == "docsearch", body
    interrupt: dict[str, Any] = body["interrupt"]
    assert interrupt.keys() == WIRE_KEYS
    assert (interrupt["run_id"], interrupt["thread_id"]) == (body["run_id"], thread_id)
    return interrupt


def decide(url: str, thread_id: str, interrupt_id: str, decision: str,
           **extra: Any) -> requests.Response:
    return invoke(url, {"thread_id": thread_id, "resume": {
        "interrupt_id": interrupt_id, "decision": decision, **extra}})


def thread(url: str, thread_id: str, tools: bool = False) -> dict[str, Any]:
    resp = requests.get(f"{url}/threads/{thread_id}{'?include=tools' if tools else ''}",
                        timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def as_dicts(events: list[Event]) -> list[dict[str, str]]:
    return [{"event": e.event, "data": e.data, "id": e.id} for e in events]


def test_a_streamed_question_pauses_and_a_streamed_approval_runs_the_call(
        server: LiveServer) -> None:
    url = server.url
    document = requests.get(f"{url}/openapi.json", timeout=TIMEOUT).json()
    _, events = stream(f"{url}/stream", {"user_input": TIDES, "thread_id": "ap-stream"})

    assert [e.event for e in events] == ["metadata", "interrupt", "end"]
    check_events(document, as_dicts(events))  # the interrupt event as the document says
    interrupt = events[1].json()
    assert interrupt == {**interrupt, "thread_id": "ap-stream", "agent": "docsearch",
                         "tool": "search_documents", "args": {"query": "what raises the tides?"},
                         "run_id": events[0].json()["run_id"]}
    assert events[2].data == ""  # nothing was said before the pause
    # The thread shows the call waiting, as the event did; no search ran.
    view = thread(url, "ap-stream", tools=True)
    assert view["pending"] == interrupt
    assert [m["role"] for m in view["messages"]] == ["user", "assistant"]

    _, resumed = stream(f"{url}/stream", {"thread_id": "ap-stream", "resume": {
        "interrupt_id": interrupt["interrupt_id"], "decision": "approve"}})
    check_events(document, as_dicts(resumed))
    names = [e.event for e in resumed]
    assert names[:3] == ["metadata", "on_tool_start", "on_tool_end"] and names[-1] == "end"
    assert "interrupt" not in names
    start = by_type(resumed, "on_tool_start")[0].json()
    assert start["tool_call_id"] == interrupt["tool_call_id"]
    assert json.loads(start["input"]) == interrupt["args"]
    answer = resumed[-1].data
    assert "tides" in answer and "[[1]](corpus/moon.md" in answer
    assert "".join(e.data for e in by_type(resumed, "data")) == answer

    view = thread(url, "ap-stream", tools=True)
    assert view["pending"] is None
    assert [m["role"] for m in view["messages"]] == ["user", "assistant", "tool", "assistant"]
    last = view["messages"][-1]
    assert (last["role"], last["content"], last["agent"]) == ("assistant", answer, "docsearch")
    assert last["run_id"] == view["messages"][0]["run_id"]  # the answer belongs to the question


def test_edit_runs_the_call_with_the_persons_arguments(server: LiveServer) -> None:
    url = server.url
    interrupt = paused(url, "ap-edit")
    resp = decide(url, "ap-edit", interrupt["interrupt_id"], "edit",
                  args={"query": "Joey Chandler"})
    assert resp.status_code == 200, resp.text
    assert "interrupt" not in resp.json() and resp.json()["final_answer"]

    messages = thread(url, "ap-edit", tools=True)["messages"]
    calling, result = messages[1], messages[2]
    # The stored call holds the arguments that ran; the result is the edited search's.
    assert calling["tool_calls"][0]["args"] == {"query": "Joey Chandler"}
    assert result["tool_call_id"] == interrupt["tool_call_id"]
    assert "friends.md" in result["content"] and "moon.md" not in result["content"]


def test_reject_runs_nothing_and_the_specialist_answers_from_that(server: LiveServer) -> None:
    url = server.url
    interrupt = paused(url, "ap-reject")
    resp = decide(url, "ap-reject", interrupt["interrupt_id"], "reject",
                  message="not the tides, please")
    assert resp.status_code == 200, resp.text
    answer = resp.json()["final_answer"]
    assert "declined" in answer and "not the tides, please" in answer

    messages = thread(url, "ap-reject", tools=True)["messages"]
    result = messages[2]
    assert result["role"] == "tool" and result["content"].startswith("Not run: the person")
    assert "results" not in result["content"]  # the search never ran


def test_a_decision_is_taken_once_and_only_on_the_waiting_call(server: LiveServer) -> None:
    url = server.url
    interrupt = paused(url, "ap-once")
    unknown = decide(url, "ap-once", "0" * 32, "approve")
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == (
        f"No call with interrupt_id '{'0' * 32}' waits for a decision on thread 'ap-once'; the "
        f"call waiting now has interrupt_id '{interrupt['interrupt_id']}'.")
    assert unknown.json()["errors"][0]["field"] == "resume.interrupt_id"
    # Edited arguments the tool refuses: 422 naming why; the call still waits.
    refused = decide(url, "ap-once", interrupt["interrupt_id"], "edit", args={"query": 7})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "resume.args"
    assert "query: Input should be a valid string" in refused.json()["detail"]
    assert thread(url, "ap-once")["pending"] == interrupt

    assert decide(url, "ap-once", interrupt["interrupt_id"], "approve").status_code == 200
    again = decide(url, "ap-once", interrupt["interrupt_id"], "reject")
    assert again.status_code == 409
    assert "was already decided (approve)" in again.json()["detail"]
    # On a thread that never paused, and on one that doesn't exist: 404.
    assert decide(url, "ap-never", interrupt["interrupt_id"], "approve").status_code == 404


def test_a_new_question_on_a_paused_thread_declines_the_waiting_call(
        server: LiveServer) -> None:
    url = server.url
    first = paused(url, "ap-new")
    second = paused(url, "ap-new", "@docsearch who is Joey?")  # asked instead of deciding
    assert second["interrupt_id"] != first["interrupt_id"]
    assert thread(url, "ap-new")["pending"] == second

    stale = decide(url, "ap-new", first["interrupt_id"], "approve")
    assert stale.status_code == 409
    assert "was already decided (declined by a new question)" in stale.json()["detail"]
    assert decide(url, "ap-new", second["interrupt_id"], "approve").status_code == 200

    messages = thread(url, "ap-new", tools=True)["messages"]
    assert [m["role"] for m in messages] == [
        "user", "assistant", "tool", "user", "assistant", "tool", "assistant"]
    declined = messages[2]
    assert declined["tool_call_id"] == first["tool_call_id"]
    assert "asked a new question instead" in declined["content"]
    assert "Chandler" in messages[-1]["content"]


@pytest.mark.parametrize("path", ["/invoke", "/stream"])
@pytest.mark.parametrize(("body", "fields"), [
    ({"thread_id": "t"}, ["user_input"]),
    ({"user_input": "hi", "thread_id": "t", "resume": {"interrupt_id": "a" * 32,
                                                       "decision": "approve"}}, ["resume"]),
    ({"regenerate": True, "thread_id": "t", "resume": {"interrupt_id": "a" * 32,
                                                       "decision": "approve"}}, ["regenerate"]),
    ({"resume": {"interrupt_id": "a" * 32, "decision": "approve"}}, ["thread_id"]),
    ({"thread_id": "t", "resume": {"interrupt_id": "a" * 32, "decision": "edit"}}, ["resume"]),
    ({"thread_id": "t", "resume": {"interrupt_id": "a" * 32, "decision": "approve",
                                   "args": {}}}, ["resume"]),
    ({"thread_id": "t", "resume": {"interrupt_id": "a" * 32, "decision": "edit", "args": {},
                                   "message": "x"}}, ["resume"]),
    ({"thread_id": "t", "resume": {"interrupt_id": "a" * 32, "decision": "reject",
                                   "message": None}}, ["resume"]),
    ({"thread_id": "t", "resume": None}, ["resume"]),
    ({"thread_id": "t", "resume": {"interrupt_id": "nope", "decision": "approve"}},
     ["resume.interrupt_id"]),
    ({"thread_id": "t", "resume": {"interrupt_id": "a" * 32, "decision": "maybe"}},
     ["resume.decision"]),
])
def test_bad_decision_bodies_are_422_naming_the_fields(server: LiveServer, path: str,
                                                        body: dict[str, Any],
                                                        fields: list[str]) -> None:
    resp = requests.post(f"{server.url}{path}", json=body, timeout=TIMEOUT)
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == fields


def test_batch_items_report_the_pause(server: LiveServer) -> None:
    url = server.url
    resp = requests.post(f"{url}/batch", timeout=TIMEOUT, json={
        "questions": [TIDES, "@docsearch who is Joey?"], "thread_id": "ap-batch"})
    assert resp.status_code == 200, resp.text
    first, second = resp.json()["results"]
    # On one thread, the second question declines the call the first left waiting.
    assert first["status"] == second["status"] == "interrupted"
    assert first["interrupt"].keys() == WIRE_KEYS
    assert first["interrupt"]["run_id"] == first["run_id"]
    assert first["answer"] == "Waiting for a decision: docsearch calls search_documents."
    assert thread(url, "ap-batch")["pending"] == second["interrupt"]
    assert decide(url, "ap-batch", first["interrupt"]["interrupt_id"],
                  "approve").status_code == 409
