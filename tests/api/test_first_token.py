"""How soon a turn starts answering, counted in model calls at the Azure OpenAI stand-in (not
timed): the calls a turn made by the time its first answer token reached the client. A routed
tool answer after two calls (the supervisor's first call calls the tool, then the specialist
answers), a greeting after one, an @mention after two. Also what those calls cost: the reasoning
effort of calls that only decide (MODEL_DECISION_REASONING_EFFORT, refused by the stand-in as
Azure refuses it for the model behind the deployment), and the prompt cache (the stable part of
each request is byte-identical across turns and threads, and `usage` reports what the service
served from its cache).

The real dev server on the Azure provider (v1 API, key auth) with its default specialists
(docsearch on the test corpus, sqlsearch on the sample database); the stand-in follows its
default policy (the first tool is called with the question, a greeting answered in text).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sseclient import SSEClient

from standins.model_service import FakeOpenAI, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS

DEPLOYMENT = "gpt-5.4-mini"
KEY = "first-token-key"


def _env(base_url: str, **extra: str) -> dict[str, str]:
    return {"AZURE_OPENAI_ENDPOINT": base_url, "AZURE_OPENAI_CHAT_DEPLOYMENT": DEPLOYMENT,
            "AZURE_OPENAI_API_KEY": KEY, "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS),
            **extra}


@pytest.fixture(scope="module")
def azure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    with fake_openai(deployments={DEPLOYMENT: "reasoning"}, models={DEPLOYMENT: DEPLOYMENT},
                     api_keys={KEY}, count_prompt_tokens=True) as (model, base_url), \
            live_server(tmp_path_factory.mktemp("first-token"), _env(base_url)) as server:
        yield model, server
        assert model.refusals == [], model.refusals


def _turn(server: LiveServer, model: FakeOpenAI, question: str,
          thread_id: str) -> tuple[int, int, str]:
    """Stream one question: the model calls made when the first answer token arrived, all the
    turn's calls, and the agent that answered."""
    before = len(model.requests)
    at_first_token = None
    with requests.post(f"{server.url}/stream", json={"user_input": question,
                                                      "thread_id": thread_id},
                       stream=True, timeout=60) as resp:
        for event in SSEClient(resp).events():
            if event.event == "data" and at_first_token is None:
                at_first_token = len(model.requests) - before
            assert event.event != "error", event.data
    thread = requests.get(f"{server.url}/threads/{thread_id}", timeout=30).json()
    assert at_first_token is not None, "no answer token"
    return at_first_token, len(model.requests) - before, thread["messages"][-1]["agent"]


def test_model_calls_before_the_first_answer_token_by_kind_of_turn(
        azure: tuple[FakeOpenAI, LiveServer]) -> None:
    model, server = azure
    model.script.clear()
    routed = _turn(server, model, "How are threads stored in Cosmos DB?", "count-routed")
    greeting = _turn(server, model, "Hello there!", "count-greeting")
    mention = _turn(server, model, "@docsearch how are threads stored?", "count-mention")
    assert routed == (2, 2, "docsearch")
    assert greeting == (1, 1, "chat")
    assert mention == (2, 2, "docsearch")


def _first_calls(model: FakeOpenAI, since: int) -> list[dict[str, Any]]:
    """The supervisor's first calls among the requests since `since` (they declare tools of
    more than one specialist)."""
    return [r.body for r in model.requests[since:]
            if len(r.body.get("tools") or []) > 1 and r.body["messages"][0]["role"] == "system"
            and "Tools of each available specialist" in r.body["messages"][0]["content"]]


def test_the_stable_prefix_is_byte_identical_and_its_cached_tokens_are_reported(
        azure: tuple[FakeOpenAI, LiveServer]) -> None:
    model, server = azure
    model.script.clear()
    since = len(model.requests)
    usages = []
    for thread_id, question in (("cache-1", "How are threads stored in Cosmos DB?"),
                                ("cache-2", "How do I deploy the app?"),
                                ("cache-1", "And how are they deleted?")):
        body = requests.post(f"{server.url}/invoke", timeout=60, json={
            "user_input": question, "thread_id": thread_id}).json()
        usages.append(body["usage"])
    first, second, third = _first_calls(model, since)
    for later in (second, third):  # another thread, a later turn: the same prefix
        assert later["tools"] == first["tools"]
        assert later["messages"][0] == first["messages"][0]
    # Azure caches a prefix of 1024 tokens or more; the first call's is (tools + prompt).
    for usage in usages:
        assert usage["cached_input_tokens"] >= 1024, usage
        assert usage["cached_input_tokens"] < usage["input_tokens"]


def test_decisions_take_their_own_reasoning_effort_where_the_model_allows(
        tmp_path: Path) -> None:
    # gpt-5-mini takes a reasoning effort next to tools: decisions minimal, answers medium.
    with fake_openai(deployments={DEPLOYMENT: "reasoning"}, models={DEPLOYMENT: "gpt-5-mini"},
                     api_keys={KEY}) as (model, base_url), live_server(tmp_path / "mini", _env(
                         base_url, MODEL_REASONING_EFFORT="medium",
                         MODEL_DECISION_REASONING_EFFORT="minimal")) as server:
        routed = _turn(server, model, "How are threads stored in Cosmos DB?", "effort-1")
        mention = _turn(server, model, "@docsearch how are threads stored?", "effort-2")
        sent = [r.body.get("reasoning_effort") for r in model.requests]
        assert model.refusals == []
    assert routed[:2] == mention[:2] == (2, 2)
    assert sent == ["minimal", "medium", "minimal", "medium"]


@pytest.mark.parametrize("effort", ["low", "none"])
def test_gpt_5_4_takes_no_decision_effort_but_none_next_to_tools(tmp_path: Path,
                                                                  effort: str) -> None:
    with fake_openai(deployments={DEPLOYMENT: "reasoning"}, models={DEPLOYMENT: DEPLOYMENT},
                     api_keys={KEY}) as (model, base_url), live_server(tmp_path, _env(
                         base_url, MODEL_DECISION_REASONING_EFFORT=effort)) as server:
        response = requests.post(f"{server.url}/invoke", timeout=60, json={
            "user_input": "How are threads stored in Cosmos DB?"})
        sent = [r.body.get("reasoning_effort") for r in model.requests]
        refusals = model.refusals
    if effort == "none":  # accepted: decisions without reasoning, answers at the default
        assert response.status_code == 200 and refusals == []
        assert sent == ["none", None]
        return
    assert response.status_code == 502 and "reasoning_effort" in response.json()["detail"]
    [refusal] = refusals
    assert (refusal.status, refusal.param) == (400, "reasoning_effort")
    assert refusal.message.startswith(
        "Function tools with reasoning_effort are not supported for gpt-5.4-mini")
