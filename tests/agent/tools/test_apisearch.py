"""apisearch: OpenAPI GET operations as typed tools, called against a loopback sample API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.tools import BaseTool, ToolException
from starlette.applications import Starlette

from agent.settings import Settings
from agent.tools import apisearch
from agent.tools.results import parse_results
from agent.tools.toolset import Toolset
from standins.loopback_http import serve_app
from tests.support import sample_api


@pytest.fixture(scope="module")
def api() -> Iterator[tuple[str, Starlette]]:
    app = sample_api.create_app()
    with serve_app(app) as base:
        yield base, app


@pytest.fixture
def app_state(api: tuple[str, Starlette]) -> Iterator[Any]:
    _, app = api
    app.state.requests.clear()
    yield app.state
    app.state.redirect_price_to = None


def _settings(spec: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"apisearch_openapi_spec": spec, "outbound_allow_private": True,
                              "outbound_timeout_seconds": 5.0}
    values.update(overrides)
    return Settings(**values)


def _spec_file(tmp_path: Path, server_url: str) -> Path:
    spec = sample_api.load_spec()
    spec["servers"] = [{"url": server_url}]
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def _by_name(toolset: Toolset) -> dict[str, BaseTool]:
    return {t.name: t for t in toolset.tools}


def test_unset_spec_gives_no_tools() -> None:
    assert apisearch.build_tools(Settings(apisearch_openapi_spec="")) == Toolset()


def test_unusable_spec_gives_no_tools(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"swagger": "2.0", "paths": {}}', encoding="utf-8")
    assert apisearch.build_tools(_settings(str(bad))) == Toolset()
    assert apisearch.build_tools(_settings(str(tmp_path / "missing.json"))) == Toolset()


def test_get_operations_become_typed_tools(tmp_path: Path, api: tuple[str, Starlette]) -> None:
    base, _ = api
    tools = _by_name(apisearch.build_tools(_settings(str(_spec_file(tmp_path, base + "/v1")))))
    assert sorted(tools) == ["getAsset", "getPrice", "listAssets"]  # DELETE is not offered
    price = tools["getPrice"]
    assert "Current price of a crypto asset" in price.description
    schema = price.tool_call_schema.model_json_schema()
    assert schema["required"] == ["symbol"]
    assert schema["properties"]["symbol"]["type"] == "string"
    assert "ticker" in schema["properties"]["symbol"]["description"]
    currency = schema["properties"]["currency"]
    assert currency["anyOf"][0] == {"enum": ["USD", "EUR", "GBP"], "type": "string"}
    assert "default: \"USD\"" in currency["description"]
    listing = tools["listAssets"].tool_call_schema.model_json_schema()
    assert listing["properties"]["limit"]["anyOf"][0]["type"] == "integer"
    assert listing["properties"]["include_inactive"]["anyOf"][0]["type"] == "boolean"
    assert "required" not in listing
    asset = tools["getAsset"].tool_call_schema.model_json_schema()
    assert asset["required"] == ["symbol"]
    with pytest.raises(ValueError, match="currency"):
        price.args_schema.model_validate({"symbol": "ETH", "currency": "JPY"})  # type: ignore[union-attr]


async def test_spec_from_file_call_returns_data(
    tmp_path: Path, api: tuple[str, Starlette], app_state: Any
) -> None:
    base, _ = api
    tools = _by_name(apisearch.build_tools(_settings(str(_spec_file(tmp_path, base + "/v1")))))
    out = await tools["getPrice"].ainvoke({"symbol": "ETH", "currency": "EUR"})
    [result] = parse_results(out)
    assert result.source == f"{base}/v1/price?symbol=ETH&currency=EUR"
    assert json.loads(result.content) == {"symbol": "ETH", "currency": "EUR", "price": 3170.12,
                                          "as_of": "2025-01-01T00:00:00Z"}
    assert result.title == "Sample Crypto Prices: Current price of a crypto asset"
    [seen] = app_state.requests
    assert (seen["raw_path"], seen["query"]) == ("/v1/price", "symbol=ETH&currency=EUR")


async def test_spec_from_url_with_relative_server(
    api: tuple[str, Starlette], app_state: Any
) -> None:
    base, _ = api
    tools = _by_name(apisearch.build_tools(_settings(f"{base}/openapi.json")))
    out = await tools["listAssets"].ainvoke({"include_inactive": True, "limit": 2})
    [result] = parse_results(out)
    assert result.source == f"{base}/v1/assets?limit=2&include-inactive=true"
    assert [a["symbol"] for a in json.loads(result.content)["assets"]] == ["BTC", "ETH"]
    assert [r["raw_path"] for r in app_state.requests] == ["/openapi.json", "/v1/assets"]
    out = await tools["getAsset"].ainvoke({"symbol": "btc"})
    assert json.loads(parse_results(out)[0].content)["name"] == "Bitcoin"


async def test_yaml_spec(tmp_path: Path, api: tuple[str, Starlette]) -> None:
    import yaml

    base, _ = api
    spec = sample_api.load_spec()
    spec["servers"] = [{"url": base + "/v1"}]
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    tools = _by_name(apisearch.build_tools(_settings(str(path))))
    out = await tools["getPrice"].ainvoke({"symbol": "BTC"})
    assert json.loads(parse_results(out)[0].content)["price"] == 97000.5


def test_spec_url_on_loopback_refused_without_allow_private(
    api: tuple[str, Starlette], app_state: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    base, _ = api
    settings = _settings(f"{base}/openapi.json", outbound_allow_private=False)
    with caplog.at_level("ERROR", logger="agent.tools.apisearch"):
        assert apisearch.build_tools(settings) == Toolset()
    assert "refused: 127.0.0.1 is a loopback address" in caplog.text
    assert app_state.requests == []  # refused before sending


async def test_call_to_host_other_than_spec_server_refused(
    tmp_path: Path, api: tuple[str, Starlette], app_state: Any
) -> None:
    """The API redirects to another host (localhost, same machine): not the spec's server."""
    base, _ = api
    tools = _by_name(apisearch.build_tools(_settings(str(_spec_file(tmp_path, base + "/v1")))))
    app_state.redirect_price_to = base.replace("127.0.0.1", "localhost") + "/v1/assets"
    refused = r"http://localhost:\d+ is not one of the allowed origins"
    with pytest.raises(ToolException, match=refused):
        await tools["getPrice"].ainvoke({"symbol": "ETH"})
    assert [r["raw_path"] for r in app_state.requests] == ["/v1/price"]


async def test_spec_server_elsewhere_is_never_called(
    tmp_path: Path, api: tuple[str, Starlette], app_state: Any
) -> None:
    """A spec naming the metadata address as its server: the call is refused before sending."""
    tools = _by_name(apisearch.build_tools(
        _settings(str(_spec_file(tmp_path, "http://169.254.169.254/v1")))))
    with pytest.raises(ToolException, match=r"169\.254\.169\.254 is a cloud metadata address"):
        await tools["getPrice"].ainvoke({"symbol": "ETH"})


@pytest.mark.parametrize(
    ("symbol", "raw_path"),
    [
        ("ETH?symbol=BTC", "/v1/assets/ETH%3Fsymbol%3DBTC"),
        ("ETH#frag", "/v1/assets/ETH%23frag"),
        ("50%", "/v1/assets/50%25"),
        ("%41", "/v1/assets/%2541"),
        ("...", "/v1/assets/..."),
    ],
)
async def test_path_parameter_injection_is_encoded(
    tmp_path: Path, api: tuple[str, Starlette], app_state: Any, symbol: str, raw_path: str
) -> None:
    base, _ = api
    tools = _by_name(apisearch.build_tools(_settings(str(_spec_file(tmp_path, base + "/v1")))))
    with pytest.raises(ToolException, match="HTTP 404"):
        await tools["getAsset"].ainvoke({"symbol": symbol})
    assert [(r["raw_path"], r["query"]) for r in app_state.requests] == [(raw_path, "")]


@pytest.mark.parametrize(("symbol", "reason"), [
    ("..", "dot segment"),
    (".", "dot segment"),
    ("", "dot segment"),
    ("%2e%2e", "read as '..'"),
    ("%2E.", "read as '..'"),
    ("%252e%252e", "read as '..'"),
    ("．．", "read as '..'"),  # fullwidth full stops: NFKC makes them '..'
    ("../../admin", "may not contain '/'"),
    ("ETH/../admin", "may not contain '/'"),
    ("..\\admin", "may not contain '/' or '\\\\'"),
    ("..%2Fadmin", "nor encode one"),
    ("..%2fadmin", "nor encode one"),
    ("..%5Cadmin", "nor encode one"),
    ("..%252Fadmin", "nor encode one"),
    ("..%25252Fadmin", "nor encode one"),
    ("..%255cadmin", "nor encode one"),
    ("..／admin", "nor encode one"),  # fullwidth solidus
    ("%2525252F", "percent-encoded 4 times over"),
    ("%C0%AF", "not UTF-8"),  # an overlong '/'
    ("ETH\r\nX-Injected: 1", "control characters"),
    ("ETH%0d%0aX-Injected: 1", "control characters"),
])
async def test_path_parameters_that_could_leave_their_segment_are_refused(
    tmp_path: Path, api: tuple[str, Starlette], app_state: Any, symbol: str, reason: str
) -> None:
    base, _ = api
    tools = _by_name(apisearch.build_tools(_settings(str(_spec_file(tmp_path, base + "/v1")))))
    with pytest.raises(ToolException, match=rf"refused: path parameter 'symbol' .*{reason}"):
        await tools["getAsset"].ainvoke({"symbol": symbol})
    assert app_state.requests == []  # nothing reached the API


def test_relative_server_in_a_file_spec_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(sample_api.load_spec()), encoding="utf-8")  # servers: /v1
    assert apisearch.build_tools(_settings(str(path))) == Toolset()


def _many_operations_spec(tmp_path: Path, count: int) -> Path:
    """A spec with `count` GET operations (op_0 ... op_{count-1}) on a loopback server."""
    paths = {f"/items/{n}": {"get": {"operationId": f"op_{n}", "summary": f"Item {n}",
                                     "parameters": [{"name": "q", "in": "query",
                                                     "schema": {"type": "string"}}]}}
             for n in range(count)}
    spec = {"openapi": "3.0.3", "info": {"title": "Big API", "version": "1"},
            "servers": [{"url": "http://127.0.0.1:9"}], "paths": paths}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def test_a_spec_over_azure_openais_tool_limit_is_cut_to_the_first_128(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    spec = _many_operations_spec(tmp_path, 150)
    with caplog.at_level("WARNING", logger="agent.tools.openapi_tools"):
        tools = apisearch.build_tools(_settings(str(spec))).tools
    assert [t.name for t in tools] == [f"op_{n}" for n in range(128)]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "150 GET operations" in warning.getMessage()
    assert "APISEARCH_OPERATIONS" in warning.getMessage()


def test_apisearch_operations_chooses_the_tools(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    spec = _many_operations_spec(tmp_path, 150)
    with caplog.at_level("WARNING", logger="agent.tools.openapi_tools"):
        tools = apisearch.build_tools(_settings(
            str(spec), apisearch_operations=" op_149, op_7,no_such_op ,op_7")).tools
    assert [t.name for t in tools] == ["op_149", "op_7"]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "no_such_op" in warning.getMessage()


def test_a_spec_within_the_limit_keeps_every_operation_silently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="agent.tools.openapi_tools"):
        tools = apisearch.build_tools(_settings(str(_many_operations_spec(tmp_path, 128)))).tools
    assert len(tools) == 128 and not caplog.records


def test_local_refs_are_followed_and_other_documents_never_fetched(
    tmp_path: Path, api: tuple[str, Starlette], app_state: Any,
) -> None:
    base, _ = api
    spec = {
        "openapi": "3.1.0", "info": {"title": "Refs", "version": "1"},
        "servers": [{"url": base + "/v1"}],
        "paths": {
            "/assets/{symbol}": {"$ref": "#/components/pathItems/Asset"},
            "/trees": {"get": {"operationId": "getTree", "parameters": [
                {"$ref": "#/components/parameters/Tree"},
                {"$ref": f"{base}/openapi.json#/components/parameters/Currency"},
                {"$ref": "#/components/parameters/Missing"},
                {"$ref": "#/components/parameters/Loop"},
            ]}},
        },
        "components": {
            "pathItems": {"Asset": {
                "parameters": [{"$ref": "#/components/parameters/Symbol"}],
                "get": {"operationId": "getAsset", "summary": "One asset"}}},
            "parameters": {
                "Symbol": {"$ref": "#/components/parameters/SymbolBase"},  # a chain of refs
                "SymbolBase": {"name": "symbol", "in": "path", "required": True,
                               "schema": {"$ref": "#/components/schemas/a~1b~0c"}},
                "Tree": {"name": "tree", "in": "query",
                         "schema": {"$ref": "#/components/schemas/Tree"}},
                "Loop": {"$ref": "#/components/parameters/Loop"},
            },
            "schemas": {
                "a/b~c": {"type": "string", "enum": ["BTC", "ETH"]},  # JSON pointer escapes
                "Tree": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
            },
        },
    }
    path = tmp_path / "refs.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    tools = _by_name(apisearch.build_tools(_settings(str(path))))
    assert sorted(tools) == ["getAsset", "getTree"]
    asset = tools["getAsset"].tool_call_schema.model_json_schema()
    assert asset["required"] == ["symbol"]
    assert asset["properties"]["symbol"]["enum"] == ["BTC", "ETH"]
    tree = tools["getTree"].tool_call_schema.model_json_schema()
    assert list(tree["properties"]) == ["tree"]  # the unresolvable refs are left out
    assert tree["properties"]["tree"]["anyOf"][0]["type"] == "array"  # typed, not endless
    assert app_state.requests == []  # the ref to another document was not fetched
