"""A run paused for approval on one instance is decided on another, on one SQLite file and on
the Cosmos DB stand-in: two real dev servers, the Azure OpenAI stand-in scripting the model's
`sql_query` call, sign-in on (AUTH_MODE=easyauth, the headers Easy Auth adds).

Alice asks on A (`/stream`): the run pauses before the query, `interrupt` (the query as the SQL
guard will run it, not as the model wrote it) then `end`. On B the thread shows the call
waiting; another user gets 404 for the thread and for a decision, a caller without a principal
401; an edit the SQL guard refuses, or that isn't a query at all, is 422 naming why, and the
call still waits.
Alice's edit on B (`/stream`) runs her query, not the model's, and the model is given its rows
with the call as it ran; on A the thread then has nothing waiting and a second decision is 409.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from standins.cosmos import CosmosEndpoint, start_cosmos_server
from standins.model_service import FakeOpenAI, Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.easyauth import signed_in
from tests.support.sse import by_type, stream

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
ALICE, BOB = signed_in("alice"), signed_in("bob")
TIMEOUT = 60
QUESTION = "@sqlsearch which state had the most COVID deaths in 2020?"
MOST_DEATHS_2020 = (
    "SELECT state, MAX(death) AS deaths_2020 FROM covid_daily "
    "WHERE date <= '2020-12-31' GROUP BY state ORDER BY deaths_2020 DESC LIMIT 1")
# What the model writes: the guard runs it as MOST_DEATHS_2020 (regenerated, no comment).
WRITTEN = ("select state, max(death) as deaths_2020 from covid_daily where date <= '2020-12-31' "
           "group by state order by deaths_2020 desc limit 1 -- the worst")
NEW_YORK = "SELECT state, MAX(death) AS deaths FROM covid_daily WHERE state = 'NY' GROUP BY state"


@pytest.fixture(scope="module")
def cosmos() -> Iterator[CosmosEndpoint]:
    with start_cosmos_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def azure() -> Iterator[tuple[FakeOpenAI, str]]:
    with fake_openai() as (model, base_url):
        yield model, base_url


@contextmanager
def two_servers(store: str, tmp_path: Path, request: pytest.FixtureRequest,
                model_url: str) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two dev servers on one thread store (one DATA_DIR, or one Cosmos database)."""
    env = {"MODEL_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": model_url,
           "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat", "AZURE_OPENAI_API_KEY": "k",
           "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS), "AUTH_MODE": "easyauth",
           "APPROVE_TOOLS": "sql_query"}
    dirs = (tmp_path, tmp_path)  # one DATA_DIR: one threads.sqlite
    if store == "cosmos":
        endpoint: CosmosEndpoint = request.getfixturevalue("cosmos")
        env.update({"AZURE_COSMOSDB_ENDPOINT": endpoint.url, "AZURE_COSMOSDB_KEY": endpoint.key,
                    "AZURE_COSMOSDB_DATABASE": f"approvals-{uuid.uuid4().hex[:8]}",
                    "AZURE_COSMOSDB_CONTAINER": "threads",
                    "AZURE_COSMOSDB_CREATE_IF_MISSING": "true"})
        dirs = (tmp_path / "a", tmp_path / "b")
    with ExitStack() as stack:
        first, second = (stack.enter_context(live_server(d, env)) for d in dirs)
        yield first, second


def call(call_id: str, query: str) -> dict[str, Any]:
    return {"id": call_id, "name": "sql_query", "arguments": {"query": query}}


def decision(thread_id: str, interrupt_id: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"thread_id": thread_id,
            "resume": {"interrupt_id": interrupt_id, "decision": kind, **extra}}


@pytest.mark.parametrize("store", ["sqlite", "cosmos"])
def test_pause_on_one_instance_and_decide_on_another(
        store: str, tmp_path: Path, request: pytest.FixtureRequest,
        azure: tuple[FakeOpenAI, str]) -> None:
    model, model_url = azure
    thread_id = f"sql-{store}"
    with two_servers(store, tmp_path, request, model_url) as (a, b):
        model.script.clear()
        model.add(Turn(tool_calls=[call("call_sql", WRITTEN)]))
        _, events = stream(f"{a.url}/stream", {"user_input": QUESTION, "thread_id": thread_id},
                           headers=ALICE)
        assert [e.event for e in events] == ["metadata", "interrupt", "end"]
        interrupt = events[1].json()
        assert {k: interrupt[k] for k in ("agent", "tool", "tool_call_id", "args")} == {
            "agent": "sqlsearch", "tool": "sql_query", "tool_call_id": "call_sql",
            "args": {"query": MOST_DEATHS_2020}}
        asked = len(model.requests)

        view = requests.get(f"{b.url}/threads/{thread_id}", headers=ALICE, timeout=TIMEOUT)
        assert view.status_code == 200 and view.json()["pending"] == interrupt
        # Another user: the thread is not there for them, and neither is its call.
        assert requests.get(f"{b.url}/threads/{thread_id}", headers=BOB,
                            timeout=TIMEOUT).status_code == 404
        edit = decision(thread_id, interrupt["interrupt_id"], "edit", args={"query": NEW_YORK})
        foreign = requests.post(f"{b.url}/invoke", json=edit, headers=BOB, timeout=TIMEOUT)
        assert foreign.status_code == 404
        assert foreign.json()["detail"] == f"No thread with thread_id {thread_id!r}."
        foreign_stream = requests.post(f"{b.url}/stream", json=edit, headers=BOB,
                                       timeout=TIMEOUT)
        assert foreign_stream.status_code == 404  # before the stream starts
        assert requests.post(f"{b.url}/invoke", json=edit,
                             timeout=TIMEOUT).status_code == 401
        # Arguments the tool refuses: 422 naming why, before the stream; the call still waits.
        delete = {"query": "DELETE FROM covid_daily"}
        refused = requests.post(f"{b.url}/stream", headers=ALICE, timeout=TIMEOUT, json=decision(
            thread_id, interrupt["interrupt_id"], "edit", args=delete))
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/json"
        assert refused.json()["detail"] == (
            "Edit refused by sql_query: Only SELECT queries are allowed, not DELETE. The call "
            "still waits for a decision.")
        assert refused.json()["errors"][0]["field"] == "resume.args"
        not_a_query = requests.post(f"{b.url}/invoke", headers=ALICE, timeout=TIMEOUT,
                                    json=decision(thread_id, interrupt["interrupt_id"], "edit",
                                                  args={"query": ["not", "a query"]}))
        assert not_a_query.status_code == 422
        assert "query: Input should be a valid string" in not_a_query.json()["detail"]
        assert len(model.requests) == asked  # nothing ran
        assert requests.get(f"{a.url}/threads/{thread_id}", headers=ALICE,
                            timeout=TIMEOUT).json()["pending"] == interrupt

        model.add(Turn(chunks=["New York had 39,029 deaths ",
                               "[[1]](https://covidtracking.com/data)."]))
        _, resumed = stream(f"{b.url}/stream", edit, headers=ALICE)
        assert not model.script, "the edited call's answer was not asked for"
        start, end = by_type(resumed, "on_tool_start")[0].json(), by_type(
            resumed, "on_tool_end")[0].json()
        assert json.loads(start["input"]) == {"query": NEW_YORK}
        assert end["status"] == "success" and "39029" in end["output"]
        assert resumed[-1].event == "end" and resumed[-1].data.startswith("New York had")
        # The model saw its call as it ran (the person's query) and that query's rows.
        sent = model.requests[-1].body["messages"]
        [calling] = [m for m in sent if m["role"] == "assistant" and m.get("tool_calls")]
        assert json.loads(calling["tool_calls"][0]["function"]["arguments"]) == {
            "query": NEW_YORK}
        [result] = [m for m in sent if m["role"] == "tool"]
        assert result["tool_call_id"] == "call_sql" and "39029" in result["content"]

        after = requests.get(f"{a.url}/threads/{thread_id}", headers=ALICE, timeout=TIMEOUT)
        assert after.json()["pending"] is None
        assert after.json()["messages"][-1]["content"] == resumed[-1].data
        again = requests.post(f"{a.url}/invoke", headers=ALICE, timeout=TIMEOUT, json=decision(
            thread_id, interrupt["interrupt_id"], "approve"))
        assert again.status_code == 409
