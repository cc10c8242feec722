"""The Azure OpenAI path over the wire: the real dev server, configured with nothing but an
endpoint, a key and a deployment, against a loopback server that speaks the Azure OpenAI protocol
and behaves like a current reasoning deployment (it refuses `temperature` other than 1,
`max_tokens`, `parallel_tool_calls`, ...). Both the v1 API (the default) and the classic
`/openai/deployments/{name}?api-version=` path are exercised.

A question without an @mention goes to the supervisor's first call, which declares every
enabled specialist's tools: the tool it calls selects the specialist, whose tool runs, and that
specialist's answer streams over `/stream`. The tests assert what the Azure endpoint received,
request by request, and that the seed notebook's client works unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from standins.model_service import FakeOpenAI, Recorded, Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support import seed_client
from tests.support.sse import by_type, stream

DEPLOYMENT = "gpt-5.4-mini-prod"
CLASSIC_API_VERSION = "2024-10-21"
API_KEY = "azure-wire-test-key"
QUESTION = "How far away is the Moon from the Earth?"
MOON_SOURCE = "corpus/moon.md#the-moon"
# What a reasoning deployment refuses; the app must send none of it by default.
REFUSED_BY_REASONING = ("temperature", "top_p", "max_tokens", "parallel_tool_calls",
                        "presence_penalty", "frequency_penalty", "reasoning_effort")


@dataclass
class Azure:
    """A dev server on the Azure provider and the Azure stand-in it talks to."""

    api: str  # "v1" or "classic"
    model: FakeOpenAI
    server: LiveServer
    options: dict[str, Any]  # the optional model options this setup sets, as sent
    deployment: str

    def assert_wire(self, request: Recorded) -> None:
        if self.api == "v1":
            assert request.path == "/openai/v1/chat/completions"
            assert request.query == {}
            assert request.body["model"] == self.deployment
            assert request.headers["authorization"] == f"Bearer {API_KEY}"
        else:
            assert request.path == f"/openai/deployments/{self.deployment}/chat/completions"
            assert request.query == {"api-version": CLASSIC_API_VERSION}
            assert request.headers["api-key"] == API_KEY
            assert "authorization" not in request.headers
        assert request.body["stream"] is True
        assert request.body["stream_options"] == {"include_usage": True}
        sent = {k: request.body[k] for k in set(REFUSED_BY_REASONING) & set(request.body)}
        assert sent == self.options, request.body


SETUPS = {
    # (API path, deployment name and kind, extra settings, options they send)
    "v1 reasoning": ("v1", DEPLOYMENT, "reasoning", {}, {}),
    "classic reasoning": ("classic", DEPLOYMENT, "reasoning", {}, {}),
    "v1 classic model with a temperature": (
        "v1", "gpt-4.1-mini", "classic", {"MODEL_TEMPERATURE": "0.2"}, {"temperature": 0.2}),
}


@pytest.fixture(scope="module", params=list(SETUPS))
def azure(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azure]:
    """The dev server on `azure` (key auth, docsearch and sqlsearch configured), nothing else
    set but what the API path and the deployment's kind need."""
    api, deployment, kind, extra, options = SETUPS[request.param]
    env = {"AZURE_OPENAI_ENDPOINT": "", "AZURE_OPENAI_CHAT_DEPLOYMENT": deployment,
           "AZURE_OPENAI_API_KEY": API_KEY, "DOCS_DIR": str(CORPUS), **extra}
    if api == "classic":
        env["AZURE_OPENAI_API_VERSION"] = CLASSIC_API_VERSION
    with fake_openai(deployments={deployment: kind}, api_keys={API_KEY}) as (model, base_url):
        env["AZURE_OPENAI_ENDPOINT"] = base_url
        folder = tmp_path_factory.mktemp("azure-" + request.param.replace(" ", "-"))
        with live_server(folder, env) as server:
            yield Azure(api, model, server, options, deployment)
        assert model.refusals == [], model.refusals


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    assert tool["type"] == "function"
    function: dict[str, Any] = tool["function"]
    return function


def test_routed_question_calls_a_tool_and_streams_the_answer(azure: Azure) -> None:
    model, server = azure.model, azure.server
    model.script.clear()
    first = len(model.requests)
    answer = ["The Moon is about ", "384,400 km ", f"from Earth [[1]]({MOON_SOURCE})."]
    model.add(
        Turn(tool_calls=[
            {"id": "call_docs_1", "name": "search_documents",
             "arguments": {"query": "Moon distance from Earth"}},
            # another specialist's tool in the same reply: dropped, never left unanswered
            {"id": "call_sql_1", "name": "sql_query", "arguments": {"query": "SELECT 1"}}]),
        Turn(chunks=answer),
    )

    _, events = stream(f"{server.url}/stream", {"user_input": QUESTION, "thread_id": "routed"})

    decide, answer_request = model.requests[first:]  # two calls: the answer starts after two
    for request in (decide, answer_request):
        azure.assert_wire(request)
    assert all(outcome.completed for outcome in model.outcomes[first:])  # usage chunk + [DONE]

    # 1. The first call: every enabled specialist's tools, the model free to answer instead.
    names = [_function(tool)["name"] for tool in decide.body["tools"]]
    assert names == ["search_documents", "sql_list_tables", "sql_describe_table", "sql_query"]
    assert "tool_choice" not in decide.body
    system, user = decide.body["messages"]
    assert system["role"] == "system" and "call that specialist's tool" in system["content"]
    assert "- @docsearch tools: search_documents" in system["content"]
    assert "- @apisearch — not configured" in system["content"]
    assert user == {"role": "user", "content": QUESTION}

    # 2. docsearch answers from the results: its own prompt and tools, tool choice left to it.
    [docs_tool] = answer_request.body["tools"]
    search = _function(docs_tool)
    assert search["name"] == "search_documents"
    assert search["parameters"]["required"] == ["query"]
    assert "tool_choice" not in answer_request.body
    system, asked, assistant, tool = answer_request.body["messages"]
    assert system["role"] == "system" and system["content"].startswith("You are docsearch")
    assert "[[n]](source)" in system["content"]
    assert asked == {"role": "user", "content": QUESTION}

    # 3. The tool result goes back to the model, tied to the call id; the other call is gone.
    assert assistant["role"] == "assistant" and assistant["name"] == "docsearch"
    [call] = assistant["tool_calls"]
    assert call["id"] == "call_docs_1"
    assert call["function"]["name"] == "search_documents"
    assert json.loads(call["function"]["arguments"]) == {"query": "Moon distance from Earth"}
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_docs_1"
    sources = [r["source"] for r in json.loads(tool["content"])["results"]]
    assert MOON_SOURCE in sources and "384,400" in tool["content"]

    # 4. What the client saw, and the thread: docsearch called and answered.
    names = [e.event for e in events]
    assert names[0] == "metadata" and names[-1] == "end"
    assert names.index("on_tool_start") < names.index("on_tool_end") < names.index("data")
    [start] = by_type(events, "on_tool_start")
    end = by_type(events, "on_tool_end")[0].json()
    assert start.json()["agent"] == end["agent"] == "docsearch"
    assert start.json()["tool_call_id"] == end["tool_call_id"] == "call_docs_1"
    assert end["status"] == "success" and MOON_SOURCE in end["output"]
    data = [e.data for e in by_type(events, "data")]
    assert data == answer
    assert events[-1].data == "".join(answer)
    thread = requests.get(f"{server.url}/threads/routed?include=tools", timeout=30).json()
    assert [(m["role"], m["agent"]) for m in thread["messages"]] == [
        ("user", None), ("assistant", "docsearch"), ("tool", "docsearch"),
        ("assistant", "docsearch")]
    assert "call_sql_1" not in json.dumps(thread)


def test_mention_of_an_unconfigured_specialist_answers_without_a_model_call(
    azure: Azure,
) -> None:
    model, server = azure.model, azure.server
    model.script.clear()
    before = len(model.requests)
    _, web = stream(f"{server.url}/stream", {"user_input": "@websearch who won the match?"})
    _, api = stream(f"{server.url}/stream", {"user_input": "@apisearch price of ETH?"})
    assert len(model.requests) == before, "an unconfigured specialist needs no model call"
    for events, setting in ((web, "WEBSEARCH_PROVIDER"), (api, "APISEARCH_OPENAPI_SPEC")):
        assert events[0].event == "metadata" and events[-1].event == "end"
        assert not by_type(events, "on_tool_start")
        assert "not configured" in events[-1].data and setting in events[-1].data
        assert "".join(e.data for e in by_type(events, "data")) == events[-1].data


def test_seed_client_works_unchanged_on_each_kind_of_deployment(
    azure: Azure, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    azure.model.script.clear()
    before = len(azure.model.requests)
    monkeypatch.setattr(seed_client, "BASE_URL", azure.server.url)
    thread = f"seed-{azure.api}-{len(azure.options)}"
    seed_client.call_invoke("@docsearch how far is the Moon?", thread_id=thread)
    seed_client.call_batch(["@docsearch tides?", "Which state had the most deaths?"],
                           thread_id=thread)
    seed_client.call_stream("@docsearch describe the scene where Joey wears all of "
                            "Chandler's clothes", thread_id=thread)
    out = capsys.readouterr().out
    assert "[/invoke response] final_answer: Answer: word0" in out
    assert out.count("A: Answer: word0") == 2
    assert "[Metadata] run_id=" in out and "[Tool Start] " in out and "[Tool End] " in out
    assert "[Done Streaming] Final text: Answer: word0" in out
    assert "Error" not in out and "Unrecognized" not in out
    requests = azure.model.requests[before:]
    # Two calls each: the @docsearch ones (its tool call, then the answer) and the routed batch
    # item (the first call calls docsearch's tool, then docsearch answers).
    assert len(requests) == 8
    for request in requests:
        azure.assert_wire(request)


def test_token_usage_of_every_model_call_is_in_invoke_and_each_batch_result(
        azure: Azure) -> None:
    model, server = azure.model, azure.server
    search = {"name": "search_documents", "arguments": {"query": "Moon"}}

    def turn() -> tuple[Turn, Turn]:
        # The stand-in reports 10 prompt tokens per call, completion = chunks + reasoning.
        return (Turn(tool_calls=[search], reasoning_tokens=7),
                Turn(chunks=["The Moon ", "is ", "far."], reasoning_tokens=5))

    expected = {"input_tokens": 20, "output_tokens": 15, "reasoning_tokens": 12,
                "total_tokens": 35, "cached_input_tokens": 0}
    model.script.clear()
    model.add(*turn())
    invoked = requests.post(f"{server.url}/invoke", timeout=60,
                            json={"user_input": "@docsearch how far is the Moon?"})
    assert invoked.status_code == 200, invoked.text
    assert invoked.json()["usage"] == expected

    model.add(*turn(), *turn())
    batch = requests.post(f"{server.url}/batch", timeout=60, json={  # one thread: in order
        "questions": ["@docsearch the Moon?", "@docsearch the Moon again?"],
        "thread_id": "usage-batch"})
    assert batch.status_code == 200, batch.text
    assert [item["usage"] for item in batch.json()["results"]] == [expected, expected]
