"""Answers within the Functions front end's 230 s: REQUEST_DEADLINE_SECONDS on /invoke and
/batch, over the wire (dev server, Azure stand-in whose model stalls on purpose).

With the deadline at 2 s: a stalled /invoke answers 504 naming the setting; a /batch on one
thread returns the finished question, marks the stalled one and the one never started
`timeout`, and the model never sees the third question. The thread stays usable.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from standins.model_service import FakeOpenAI, Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS

SEARCH = Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "Moon"}}])
STALL = Turn(chunks=["too late"], header_delay=30)


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    with fake_openai() as (model, base_url), live_server(
        tmp_path_factory.mktemp("deadline"),
        {"AZURE_OPENAI_ENDPOINT": base_url, "AZURE_OPENAI_API_KEY": "k",
         "REQUEST_DEADLINE_SECONDS": "2", "MODEL_TIMEOUT_SECONDS": "60",
         "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS)},
    ) as server:
        # The deadline counts from the request's start, a cold bot build included: warm up
        # (a build cut by the deadline goes on, so a later request finds the bot built).
        for _ in range(30):
            warm = requests.post(f"{server.url}/invoke",
                                 json={"user_input": "@docsearch warm up"}, timeout=60)
            if warm.status_code != 504:
                break
        assert warm.status_code == 200, warm.text
        yield model, server


def test_invoke_answers_504_at_the_deadline(azure: tuple[FakeOpenAI, LiveServer]) -> None:
    model, server = azure
    model.script.clear()
    model.add(STALL)
    r = requests.post(f"{server.url}/invoke", json={"user_input": "@docsearch moon?",
                                                     "thread_id": "deadline-invoke"}, timeout=60)
    assert r.status_code == 504
    assert "REQUEST_DEADLINE_SECONDS (2 s)" in r.json()["detail"]
    assert "/stream" in r.json()["detail"]
    model.script.clear()
    again = requests.post(f"{server.url}/invoke", json={"user_input": "@docsearch moon?",
                                                         "thread_id": "deadline-invoke"},
                          timeout=60)
    assert again.status_code == 200, again.text


def test_batch_returns_finished_items_and_marks_the_rest_timed_out(
    azure: tuple[FakeOpenAI, LiveServer],
) -> None:
    model, server = azure
    model.script.clear()
    model.add(SEARCH, Turn(chunks=["The Moon is far."]), STALL)
    before = len(model.requests)
    questions = ["@docsearch first?", "@docsearch second?", "@docsearch third?"]
    r = requests.post(f"{server.url}/batch", json={"questions": questions,
                                                    "thread_id": "deadline-batch"}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert [i["status"] for i in body["results"]] == ["ok", "timeout", "timeout"]
    assert body["answers"][0] == "The Moon is far."
    for item in body["results"][1:]:
        assert item["status_code"] == 504
        assert "REQUEST_DEADLINE_SECONDS" in item["error"]
        assert item["answer"] == f"Timed out: {item['error']}"
    sent = model.requests[before:]
    assert len(sent) == 3, "the third question must never reach the model"
    assert all("third" not in str(r.body["messages"]) for r in sent)
    thread = requests.get(f"{server.url}/threads/deadline-batch", timeout=30)
    assert thread.status_code == 200


def test_concurrent_batch_items_share_the_request_deadline(tmp_path_factory: pytest.TempPathFactory
                                                           ) -> None:
    """Six questions, four at a time (BATCH_CONCURRENCY), each answer 2.5 s in coming, a
    deadline of 4 s: the first four are answered; the last two start at about 2.5 s with 1.5 s
    left, so they are cut at the deadline (given the whole deadline each, they would be
    answered at about 5 s)."""
    slow = Turn(chunks=["Hello."], first_delay=2.5)
    with fake_openai() as (model, base_url), live_server(
        tmp_path_factory.mktemp("batch-deadline"),
        {"AZURE_OPENAI_ENDPOINT": base_url, "AZURE_OPENAI_API_KEY": "k",
         "REQUEST_DEADLINE_SECONDS": "4", "BATCH_CONCURRENCY": "4",
         "MODEL_TIMEOUT_SECONDS": "60", "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS)},
    ) as server:
        # The deadline counts from the request's start, a cold bot build included: warm up
        # (a build cut by the deadline goes on, so a later request finds the bot built).
        for _ in range(30):
            warm = requests.post(f"{server.url}/invoke", json={"user_input": "@chat warm up"},
                                 timeout=60)
            if warm.status_code != 504:
                break
        assert warm.status_code == 200, warm.text
        model.script.clear()
        model.add(*[slow] * 6)
        r = requests.post(f"{server.url}/batch", timeout=60,
                          json={"questions": [f"@chat hello {i}" for i in range(6)]})
    assert r.status_code == 200
    statuses = [item["status"] for item in r.json()["results"]]
    assert sorted(statuses) == ["ok"] * 4 + ["timeout"] * 2, statuses
