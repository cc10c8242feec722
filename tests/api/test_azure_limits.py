"""Requests stay within what Azure OpenAI accepts, at its limits, over the wire.

The dev server on the Azure provider talks to the strict stand-in (a reasoning deployment that
refuses more than 128 tools, a `tool_choice` without tools, and tool calls left unanswered):
- apisearch over a 150-operation spec declares 128 tools, and the request is accepted;
- the supervisor's first call, which declares every specialist's tools, would pass 128 with it:
  apisearch is handed off (one `transfer_to_apisearch` tool), and that request is accepted;
- after `MAX_TOOL_ROUNDS` tool rounds the model is asked once more with the tools still
  declared (the history holds tool calls) and `tool_choice: "none"`, and the turn answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agent.graph import MAX_TOOL_ROUNDS
from standins.model_service import FakeOpenAI, Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.sse import by_type, stream

DEPLOYMENT = "gpt-5.4-mini"
KEY = "limits-test-key"


def _big_spec(folder: Path, count: int) -> Path:
    paths = {f"/items/{n}": {"get": {"operationId": f"op_{n}", "summary": f"Item {n}"}}
             for n in range(count)}
    spec = {"openapi": "3.0.3", "info": {"title": "Big API", "version": "1"},
            "servers": [{"url": "http://127.0.0.1:9"}], "paths": paths}
    path = folder / "big-openapi.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    data = tmp_path_factory.mktemp("limits")
    with fake_openai(deployments={DEPLOYMENT: "reasoning"}, api_keys={KEY}) as (
            model, base_url), live_server(data, {
                "AZURE_OPENAI_ENDPOINT": base_url, "AZURE_OPENAI_CHAT_DEPLOYMENT": DEPLOYMENT,
                "AZURE_OPENAI_API_KEY": KEY, "DOCS_DIR": str(CORPUS),
                "APISEARCH_OPENAPI_SPEC": str(_big_spec(data, 150)),
                "OUTBOUND_ALLOW_PRIVATE": "true"}) as server:
        yield model, server


def test_apisearch_over_a_150_operation_spec_declares_128_tools(
    azure: tuple[FakeOpenAI, LiveServer],
) -> None:
    model, server = azure
    model.script.clear()
    before = len(model.requests)
    model.add(Turn(chunks=["The API has items."]))
    r = requests.post(f"{server.url}/invoke", json={"user_input": "@apisearch list the items"},
                      timeout=60)
    assert r.status_code == 200, r.text
    assert r.json()["final_answer"] == "The API has items."
    [request] = model.requests[before:]
    names = [tool["function"]["name"] for tool in request.body["tools"]]
    assert names == [f"op_{n}" for n in range(128)]
    assert model.refusals == []
    assert "150 GET operations" in server.log() and "APISEARCH_OPERATIONS" in server.log()


def test_past_128_tools_the_first_call_hands_apisearch_off_and_azure_accepts_it(
    azure: tuple[FakeOpenAI, LiveServer],
) -> None:
    model, server = azure
    model.script.clear()
    before = len(model.requests)
    model.add(Turn(tool_calls=[{"name": "transfer_to_apisearch", "arguments": {}}]),
              Turn(chunks=["The API has items."]))
    r = requests.post(f"{server.url}/invoke", json={"user_input": "list the API's items"},
                      timeout=60)
    assert r.status_code == 200, r.text
    assert (r.json()["final_answer"], r.json()["agent"]) == ("The API has items.", "apisearch")
    first, own = model.requests[before:]
    assert [t["function"]["name"] for t in first.body["tools"]] == [
        "search_documents", "sql_list_tables", "sql_describe_table", "sql_query",
        "transfer_to_apisearch"]
    # apisearch's own first call picks among its 128 tools; the hand-off is not in its history
    assert len(own.body["tools"]) == 128
    assert [m["role"] for m in own.body["messages"]] == ["system", "user"]
    assert model.refusals == []


def test_after_the_last_tool_round_the_model_must_answer_and_azure_accepts_it(
    azure: tuple[FakeOpenAI, LiveServer],
) -> None:
    model, server = azure
    model.script.clear()
    before = len(model.requests)
    search = [Turn(tool_calls=[{"id": f"call_{n}", "name": "search_documents",
                                "arguments": {"query": f"moon {n}"}}])
              for n in range(MAX_TOOL_ROUNDS)]
    model.add(*search, Turn(chunks=["Enough searching: ", "about 384,400 km."]))

    _, events = stream(f"{server.url}/stream", {"user_input": "@docsearch how far is the Moon?"})

    assert events[-1].event == "end"
    assert events[-1].data == "Enough searching: about 384,400 km."
    assert len(by_type(events, "on_tool_end")) == MAX_TOOL_ROUNDS
    sent = model.requests[before:]
    assert len(sent) == MAX_TOOL_ROUNDS + 1
    assert all("tool_choice" not in r.body for r in sent[:-1])
    last = sent[-1].body
    assert last["tool_choice"] == "none"
    assert [t["function"]["name"] for t in last["tools"]] == ["search_documents"]
    calls = [m for m in last["messages"] if m.get("tool_calls")]
    assert len(calls) == MAX_TOOL_ROUNDS
    assert model.refusals == []
