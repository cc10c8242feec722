"""A tool call checked with no I/O (issue 24: a person approves or edits a call before it runs):
`prepare_call` and each tool's args model refuse what the tool would refuse and give the
arguments as the tool will run them: for `sql_query`, the exact statement the engine runs."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import BaseTool, StructuredTool
from sqlalchemy import event
from sqlalchemy.engine import Engine

from agent.settings import Settings
from agent.tools import apisearch, sqlsearch, websearch
from agent.tools.calls import ToolCallRefused, prepare_call
from agent.tools.covid_db import ensure_covid_db
from standins.loopback_http import serve_app
from tests.support import sample_api


@pytest.fixture(scope="module")
def covid_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("data")
    ensure_covid_db(data_dir)
    return data_dir


@pytest.fixture
async def sql_tools(covid_dir: Path) -> AsyncIterator[dict[str, BaseTool]]:
    toolset = sqlsearch.build_tools(Settings(data_dir=covid_dir))
    yield {t.name: t for t in toolset.tools}
    for close in toolset.closers:
        await close()


@pytest.fixture(scope="module")
def api_tools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, BaseTool]]:
    app = sample_api.create_app()
    with serve_app(app) as base:
        spec = sample_api.load_spec()
        spec["servers"] = [{"url": base + "/v1"}]
        path = tmp_path_factory.mktemp("spec") / "openapi.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        toolset = apisearch.build_tools(Settings(apisearch_openapi_spec=str(path),
                                                 outbound_allow_private=True))
        yield {t.name: t for t in toolset.tools}


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every statement any engine of this process executes meanwhile."""
    ran: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        ran.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield ran
    event.remove(Engine, "before_cursor_execute", record)


async def test_a_sql_call_is_prepared_as_the_engine_will_run_it(
        sql_tools: dict[str, BaseTool], statements: list[str]) -> None:
    tool = sql_tools["sql_query"]
    written = ("select state, max(death) as d -- the worst\n"
               "from covid_daily where date <= '2020-12-31' group by state order by d desc limit 1")
    prepared = prepare_call(tool, {"query": written})
    assert prepared == {"query": "SELECT state, MAX(death) AS d FROM covid_daily WHERE date <= "
                                 "'2020-12-31' GROUP BY state ORDER BY d DESC LIMIT 1"}
    assert statements == []  # checked with no I/O
    out = json.loads(await tool.ainvoke(written))
    assert out["sql"] == prepared["query"] == statements[-1]  # exactly what the engine ran
    assert out["rows"] == [["NY", 30040]]


@pytest.mark.parametrize(("query", "reason"), [
    ("DELETE FROM covid_daily", "Refused: Only SELECT queries are allowed, not DELETE."),
    ("SELECT 1; DROP TABLE covid_daily", "Refused: Only one statement may run at a time; got 2."),
    ("SELECT randomblob(10)", "Refused: The function randomblob() is not allowed"),
    ("WITH d AS (DELETE FROM covid_daily RETURNING *) SELECT * FROM d",
     "Refused: Only read-only SELECT queries are allowed; found DELETE inside it."),
])
async def test_a_refused_sql_call_says_why_before_anything_runs(
        sql_tools: dict[str, BaseTool], statements: list[str], query: str, reason: str) -> None:
    tool = sql_tools["sql_query"]
    with pytest.raises(ToolCallRefused) as refused:
        prepare_call(tool, {"query": query})
    assert str(refused.value).startswith(reason)
    # The args model alone says the same (it raises ToolCallRefused, not a ValidationError).
    assert tool.args_schema is not None and isinstance(tool.args_schema, type)
    with pytest.raises(ToolCallRefused, match=r"^Refused: "):
        tool.args_schema.model_validate({"query": query})
    with pytest.raises(ToolCallRefused, match=r"^Refused: "):  # and the tool, as the model sees it
        await tool.ainvoke({"query": query})
    assert statements == []


def test_arguments_of_the_wrong_shape_are_named(sql_tools: dict[str, BaseTool],
                                                api_tools: dict[str, BaseTool]) -> None:
    with pytest.raises(ToolCallRefused, match=r"^query: Field required$"):
        prepare_call(sql_tools["sql_query"], {})
    with pytest.raises(ToolCallRefused, match=r"^query: Input should be a valid string$"):
        prepare_call(sql_tools["sql_query"], {"query": 7})
    with pytest.raises(ToolCallRefused,
                       match=r"^currency: Input should be 'USD', 'EUR' or 'GBP'$"):
        prepare_call(api_tools["getPrice"], {"symbol": "ETH", "currency": "JPY"})


def test_an_api_call_is_prepared_with_its_path_parameters_checked(
        api_tools: dict[str, BaseTool]) -> None:
    assert prepare_call(api_tools["getPrice"], {"symbol": "ETH"}) == {"symbol": "ETH"}
    assert prepare_call(api_tools["getAsset"], {"symbol": "BTC"}) == {"symbol": "BTC"}
    for symbol in ("..", "../../admin", "..%2Fadmin", "..%252Fadmin", "%2e%2e", "a\\b"):
        with pytest.raises(ToolCallRefused, match="refused: path parameter 'symbol'"):
            prepare_call(api_tools["getAsset"], {"symbol": symbol})
    # A query parameter is sent encoded in the query string: slashes are fine there.
    assert prepare_call(api_tools["getPrice"], {"symbol": "../x"}) == {"symbol": "../x"}


def test_a_tool_with_a_json_schema_takes_its_arguments_as_given() -> None:
    echo = StructuredTool.from_function(
        func=lambda text: text, name="echo", description="Echo.",
        args_schema={"type": "object", "properties": {"text": {"type": "string"}}})
    assert prepare_call(echo, {"text": "hi"}) == {"text": "hi"}


def test_web_calls_are_refused_before_any_lookup_when_their_form_is_wrong() -> None:
    toolset = websearch.build_tools(Settings(websearch_provider="searxng",
                                             websearch_endpoint="http://127.0.0.1:9/searx"))
    tools = {t.name: t for t in toolset.tools}
    with pytest.raises(ToolCallRefused, match=r"^the search query is empty$"):
        prepare_call(tools["web_search"], {"query": "  "})
    assert prepare_call(tools["web_search"], {"query": "ethereum"}) == {"query": "ethereum"}
    page = tools["fetch_page"]
    for url, reason in [
        ("file:///etc/passwd", "scheme 'file' is not http or https"),
        ("http://user:pw@example.com/", "credentials in URLs are not allowed"),
        ("http://169.254.169.254/metadata", "169.254.169.254 is a cloud metadata address"),
        ("http://[::ffff:10.0.0.1]/", "is a private address"),
        ("http://127.0.0.1:8080/admin", "127.0.0.1 is a loopback address"),
        ("http://[::1/", "invalid URL"),
        ("http://:80/", "the URL has no host"),
    ]:
        with pytest.raises(ToolCallRefused, match=re.escape(reason)):
            prepare_call(page, {"url": url})
    # A name is only resolved (and checked) when the call runs.
    assert prepare_call(page, {"url": "https://example.com/a"}) == {"url": "https://example.com/a"}
