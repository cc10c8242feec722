"""Each specialist end to end over `/stream`, in the real dev server, with real backends:

- `azure` model (a loopback Azure OpenAI protocol server replaying scripted turns) with all four
  specialists configured: docsearch on the local FTS5 index of the test corpus, sqlsearch on the
  embedded COVID sample, apisearch on the sample crypto API served on loopback, websearch on a
  loopback SearXNG stand-in;
- the `offline` model with apisearch on the same sample API.

Each test asserts the tool events the client saw, what reached the backend, and that the tool
result went back to the model tied to its call id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from standins.loopback_http import serve_app
from standins.model_service import FakeOpenAI, Recorded, Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.sample_api import create_app
from tests.support.sse import Event, by_type, stream

MOST_DEATHS_2020 = (
    "SELECT state, MAX(death) AS deaths_2020 FROM covid_daily "
    "WHERE date <= '2020-12-31' GROUP BY state ORDER BY deaths_2020 DESC LIMIT 1"
)
WIKI_ETH = "https://en.wikipedia.org/wiki/Ethereum"


def _searxng_app() -> Starlette:
    """A SearXNG instance's JSON API (`/search?q=...&format=json`), recording each query."""
    queries: list[dict[str, str]] = []

    async def search(request: Request) -> JSONResponse:
        queries.append(dict(request.query_params))
        return JSONResponse({"query": request.query_params.get("q", ""), "results": [
            {"title": "Ethereum - Wikipedia", "url": WIKI_ETH,
             "content": "Ethereum went live on 30 July 2015."},
        ]})

    app = Starlette(routes=[Route("/searx/search", search)])
    app.state.queries = queries
    return app


@pytest.fixture(scope="module")
def sample_api() -> Iterator[tuple[str, Starlette]]:
    app = create_app()
    with serve_app(app) as base_url:
        yield base_url, app


@pytest.fixture(scope="module")
def searxng() -> Iterator[tuple[str, Starlette]]:
    app = _searxng_app()
    with serve_app(app) as base_url:
        yield base_url, app


@pytest.fixture(scope="module")
def azure(
    tmp_path_factory: pytest.TempPathFactory, sample_api: tuple[str, Starlette],
    searxng: tuple[str, Starlette],
) -> Iterator[tuple[FakeOpenAI, LiveServer]]:
    """The dev server on the Azure protocol with every specialist configured."""
    with fake_openai() as (model, base_url), live_server(
        tmp_path_factory.mktemp("specialists-azure"),
        {"MODEL_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": base_url,
         "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat", "AZURE_OPENAI_API_KEY": "k",
         "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS),
         "APISEARCH_OPENAPI_SPEC": f"{sample_api[0]}/openapi.json",
         "WEBSEARCH_PROVIDER": "searxng", "WEBSEARCH_ENDPOINT": f"{searxng[0]}/searx",
         "OUTBOUND_ALLOW_PRIVATE": "true"},
    ) as server:
        yield model, server


@pytest.fixture(scope="module")
def offline(
    tmp_path_factory: pytest.TempPathFactory, sample_api: tuple[str, Starlette],
) -> Iterator[LiveServer]:
    """The dev server on the offline model, with apisearch on the sample API."""
    with live_server(tmp_path_factory.mktemp("specialists-offline"), {
            "MODEL_PROVIDER": "offline", "DOCS_DIR": str(CORPUS),
            "APISEARCH_OPENAPI_SPEC": f"{sample_api[0]}/openapi.json",
            "OUTBOUND_ALLOW_PRIVATE": "true"}) as server:
        yield server


def _turn(azure: tuple[FakeOpenAI, LiveServer], question: str,
          *turns: Turn) -> tuple[list[Event], list[Recorded]]:
    """Script the model, ask over `/stream`; the events and the model requests of this turn."""
    model, server = azure
    model.script.clear()
    first = len(model.requests)
    model.add(*turns)
    _, events = stream(f"{server.url}/stream", {"user_input": question})
    assert not model.script, "every scripted turn must have been used"
    names = [e.event for e in events]
    assert names[0] == "metadata" and names[-1] == "end", names
    assert "".join(e.data for e in by_type(events, "data")) == events[-1].data
    return events, model.requests[first:]


def _tool_names(request: Recorded) -> list[str]:
    return [tool["function"]["name"] for tool in request.body["tools"]]


def _tool_message(request: Recorded, call_id: str) -> dict[str, Any]:
    [message] = [m for m in request.body["messages"]
                 if m["role"] == "tool" and m["tool_call_id"] == call_id]
    assert isinstance(message, dict)
    return message


def _call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "arguments": arguments}


def test_docsearch_answers_from_the_local_index_with_citations(
    azure: tuple[FakeOpenAI, LiveServer],
) -> None:
    answer = "Joey wears Chandler's clothes [[1]](corpus/friends.md)."
    events, (ask, reply) = _turn(
        azure, "@docsearch what does Joey wear?",
        Turn(tool_calls=[_call("call_doc", "search_documents", query="Joey wear clothes")]),
        Turn(chunks=[answer[:20], answer[20:]]))
    assert _tool_names(ask) == ["search_documents"]
    end = by_type(events, "on_tool_end")[0].json()
    assert (end["agent"], end["name"], end["status"]) == ("docsearch", "search_documents",
                                                          "success")
    results = json.loads(_tool_message(reply, "call_doc")["content"])["results"]
    assert any(r["source"].startswith("corpus/friends.md") and "Chandler" in r["content"]
               for r in results)
    assert events[-1].data == answer


def test_sqlsearch_runs_real_sql_on_the_covid_sample(
    azure: tuple[FakeOpenAI, LiveServer],
) -> None:
    events, (ask, reply) = _turn(
        azure, "@sqlsearch which state had the most COVID deaths in 2020?",
        Turn(tool_calls=[_call("call_sql", "sql_query", query=MOST_DEATHS_2020)]),
        Turn(chunks=["New York (NY) had the most: 30,040 ",
                     "[[1]](https://covidtracking.com/data)."]))
    assert _tool_names(ask) == ["sql_list_tables", "sql_describe_table", "sql_query"]
    start = by_type(events, "on_tool_start")[0].json()
    assert start["name"] == "sql_query" and "covid_daily" in start["input"]
    end = by_type(events, "on_tool_end")[0].json()
    assert end["status"] == "success" and "NY" in end["output"] and "30040" in end["output"]
    result = json.loads(_tool_message(reply, "call_sql")["content"])
    assert result["rows"] == [["NY", 30040]]
    assert result["sql"] == MOST_DEATHS_2020
    assert result["results"][0]["source"] == "https://covidtracking.com/data"
    assert "30,040" in events[-1].data


def test_sqlsearch_refused_write_is_a_tool_error_and_the_run_still_ends(
    azure: tuple[FakeOpenAI, LiveServer],
) -> None:
    events, (_, reply, _) = _turn(
        azure, "@sqlsearch delete all the COVID rows",
        Turn(tool_calls=[_call("call_del", "sql_query", query="DELETE FROM covid_daily")]),
        Turn(tool_calls=[_call("call_count", "sql_query",
                               query="SELECT COUNT(*) AS n FROM covid_daily")]),
        Turn(chunks=["I can only read this database; nothing was deleted."]))
    ends = {e.json()["tool_call_id"]: e.json() for e in by_type(events, "on_tool_end")}
    assert ends["call_del"]["status"] == "error"
    assert "Refused" in ends["call_del"]["output"]
    refused = _tool_message(reply, "call_del")
    assert "Refused" in refused["content"]
    # The rows are all still there after the refused write.
    assert ends["call_count"]["status"] == "success"
    assert json.loads(ends["call_count"]["output"])["rows"][0][0] > 20_000
    assert events[-1].data == "I can only read this database; nothing was deleted."


def test_apisearch_calls_the_sample_api_with_typed_arguments(
    azure: tuple[FakeOpenAI, LiveServer], sample_api: tuple[str, Starlette],
) -> None:
    _, app = sample_api
    app.state.requests.clear()
    events, (ask, reply) = _turn(
        azure, "@apisearch what is ETH worth in EUR, and which assets are listed?",
        Turn(tool_calls=[_call("call_price", "getPrice", symbol="ETH", currency="EUR"),
                         _call("call_list", "listAssets", limit=1, include_inactive=True)]),
        Turn(chunks=["ETH is 3170.12 EUR [[1]](x)."]))
    assert sorted(_tool_names(ask)) == ["getAsset", "getPrice", "listAssets"]
    price_tool = next(t["function"] for t in ask.body["tools"]
                      if t["function"]["name"] == "getPrice")
    assert price_tool["parameters"]["required"] == ["symbol"]
    assert price_tool["parameters"]["properties"]["symbol"]["type"] == "string"
    seen = {(r["raw_path"], r["query"]) for r in app.state.requests}
    assert ("/v1/price", "symbol=ETH&currency=EUR") in seen
    assert ("/v1/assets", "limit=1&include-inactive=true") in seen
    ends = {e.json()["tool_call_id"]: e.json() for e in by_type(events, "on_tool_end")}
    assert {e["status"] for e in ends.values()} == {"success"}
    assert "3170.12" in ends["call_price"]["output"]
    price = json.loads(_tool_message(reply, "call_price")["content"])["results"][0]
    assert json.loads(price["content"])["price"] == 3170.12
    assert "/v1/price?symbol=ETH&currency=EUR" in price["source"]


def test_websearch_searches_the_searxng_stand_in(
    azure: tuple[FakeOpenAI, LiveServer], searxng: tuple[str, Starlette],
) -> None:
    _, app = searxng
    app.state.queries.clear()
    answer = f"Ethereum launched on 30 July 2015 [[1]]({WIKI_ETH})."
    events, (ask, reply) = _turn(
        azure, "@websearch when did Ethereum launch?",
        Turn(tool_calls=[_call("call_web", "web_search", query="Ethereum launch date")]),
        Turn(chunks=[answer]))
    assert sorted(_tool_names(ask)) == ["fetch_page", "web_search"]
    assert app.state.queries == [{"q": "Ethereum launch date", "format": "json"}]
    end = by_type(events, "on_tool_end")[0].json()
    assert (end["agent"], end["status"]) == ("websearch", "success")
    [result] = json.loads(_tool_message(reply, "call_web")["content"])["results"]
    assert result["source"] == WIKI_ETH and "30 July 2015" in result["content"]
    assert events[-1].data == answer


def test_offline_apisearch_fills_parameters_from_the_question(
    offline: LiveServer, sample_api: tuple[str, Starlette],
) -> None:
    _, app = sample_api
    app.state.requests.clear()
    _, events = stream(f"{offline.url}/stream",
                       {"user_input": "@apisearch what is the price of ETH in USD?"})
    start = by_type(events, "on_tool_start")[0].json()
    assert start["agent"] == "apisearch" and start["name"] == "getPrice"
    assert json.loads(start["input"]) == {"symbol": "ETH", "currency": "USD"}
    assert ("/v1/price", "symbol=ETH&currency=USD") in {
        (r["raw_path"], r["query"]) for r in app.state.requests}
    assert events[-1].event == "end" and "3456.78" in events[-1].data


def test_offline_sqlsearch_says_it_needs_a_real_model(offline: LiveServer) -> None:
    _, events = stream(f"{offline.url}/stream", {
        "user_input": "@sqlsearch which state had the most COVID deaths in 2020?"})
    assert events[-1].event == "end"
    text = events[-1].data
    assert "Offline mode" in text and "SQL" in text
    assert "MODEL_PROVIDER=azure" in text and "MODEL_PROVIDER=openai" in text
    assert not by_type(events, "on_tool_start"), "offline mode cannot write SQL"
