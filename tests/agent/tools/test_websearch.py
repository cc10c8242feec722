"""websearch: provider protocols (SearXNG, Tavily, Brave) and fetch_page, on loopback servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.tools import BaseTool, ToolException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from agent.settings import Settings
from agent.tools import websearch
from agent.tools.results import parse_results
from standins.loopback_http import serve_app

PAGE = """<!doctype html><html><head><title>Ether  price
history</title><style>body { color: red }</style><script>var secret = "do not show";</script>
</head><body><nav>Home</nav><h1>ETH in 2024</h1><p>Ether   closed the year
at <b>$3,332</b>.</p><noscript>enable js</noscript><p>Source: example &amp; co.</p></body></html>"""


def _provider_app() -> Starlette:
    received: list[dict[str, Any]] = []

    async def searxng(request: Request) -> Response:
        received.append({"path": request.url.path, "params": dict(request.query_params),
                         "headers": dict(request.headers)})
        return JSONResponse({"query": request.query_params["q"], "results": [
            {"title": "Ethereum - Wikipedia", "url": "https://en.wikipedia.org/wiki/Ethereum",
             "content": "Ethereum is a decentralized blockchain."},
            {"title": "no url", "content": "dropped: a result needs a URL"},
        ]})

    async def tavily(request: Request) -> Response:
        received.append({"path": request.url.path, "body": await request.json(),
                         "headers": dict(request.headers)})
        if request.headers.get("authorization") != "Bearer tvly-test-key":
            return JSONResponse({"detail": {"error": "Unauthorized"}}, 401)
        return JSONResponse({"query": "q", "response_time": 0.5, "results": [
            {"title": "ETH price today", "url": "https://coin.example/eth",
             "content": "ETH trades at $3,400.", "score": 0.9, "raw_content": None},
        ]})

    async def brave(request: Request) -> Response:
        received.append({"path": request.url.path, "params": dict(request.query_params),
                         "headers": dict(request.headers)})
        return JSONResponse({"type": "search", "web": {"type": "search", "results": [
            {"title": "What is <strong>Ethereum</strong>?", "url": "https://ethereum.org/en/",
             "description": "<strong>Ethereum</strong> is a technology &amp; a community."},
        ]}})

    async def page(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def text(request: Request) -> Response:
        return Response("line one\n\n   line    two\n", media_type="text/plain")

    async def image(request: Request) -> Response:
        return Response(b"\x89PNG....", media_type="image/png")

    async def missing(request: Request) -> Response:
        return HTMLResponse("<p>nope</p>", 404)

    async def to_metadata(request: Request) -> Response:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/", 302)

    app = Starlette(routes=[
        Route("/searx/search", searxng), Route("/search", tavily, methods=["POST"]),
        Route("/res/v1/web/search", brave), Route("/page", page), Route("/text", text),
        Route("/image", image), Route("/missing", missing), Route("/to-metadata", to_metadata),
    ])
    app.state.received = received
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Starlette]]:
    app = _provider_app()
    with serve_app(app) as base:
        yield base, app


@pytest.fixture
def received(server: tuple[str, Starlette]) -> list[dict[str, Any]]:
    _, app = server
    app.state.received.clear()
    log: list[dict[str, Any]] = app.state.received
    return log


def _tools(**values: Any) -> dict[str, BaseTool]:
    base = {"outbound_allow_private": False, "outbound_timeout_seconds": 5.0}
    return {t.name: t for t in websearch.build_tools(Settings(**{**base, **values})).tools}


def test_not_configured_gives_no_tools() -> None:
    assert _tools() == {}
    assert _tools(websearch_provider="searxng") == {}  # SearXNG has no public default endpoint
    assert _tools(websearch_provider="tavily") == {}  # needs a key
    assert _tools(websearch_provider="brave", websearch_endpoint="http://x") == {}
    assert sorted(_tools(websearch_provider="tavily", websearch_api_key="k")) == [
        "fetch_page", "web_search"]


async def test_searxng_protocol(server: tuple[str, Starlette], received: list[Any]) -> None:
    base, _ = server
    tools = _tools(websearch_provider="searxng", websearch_endpoint=f"{base}/searx/")
    out = await tools["web_search"].ainvoke({"query": "what is ethereum"})
    [result] = parse_results(out)
    assert result.source == "https://en.wikipedia.org/wiki/Ethereum"
    assert result.title == "Ethereum - Wikipedia"
    assert result.content == "Ethereum is a decentralized blockchain."
    [req] = received
    assert req["path"] == "/searx/search"
    assert req["params"] == {"q": "what is ethereum", "format": "json"}
    assert "authorization" not in req["headers"]


async def test_tavily_protocol(server: tuple[str, Starlette], received: list[Any]) -> None:
    base, _ = server
    tools = _tools(websearch_provider="tavily", websearch_endpoint=base,
                   websearch_api_key="tvly-test-key")
    out = await tools["web_search"].ainvoke({"query": "eth price"})
    assert json.loads(out)["query"] == "eth price"
    [result] = parse_results(out)
    assert (result.title, result.source, result.content) == (
        "ETH price today", "https://coin.example/eth", "ETH trades at $3,400.")
    [req] = received
    assert req["path"] == "/search"
    assert req["headers"]["authorization"] == "Bearer tvly-test-key"
    assert req["body"]["query"] == "eth price"
    assert req["body"]["max_results"] == websearch.MAX_RESULTS


async def test_tavily_error_is_a_tool_error_without_the_key(
    server: tuple[str, Starlette], received: list[Any]
) -> None:
    base, _ = server
    tools = _tools(websearch_provider="tavily", websearch_endpoint=base,
                   websearch_api_key="tvly-wrong")
    with pytest.raises(ToolException, match="answered HTTP 401") as info:
        await tools["web_search"].ainvoke({"query": "eth"})
    assert "tvly-wrong" not in str(info.value)


async def test_brave_protocol(server: tuple[str, Starlette], received: list[Any]) -> None:
    base, _ = server
    tools = _tools(websearch_provider="brave", websearch_endpoint=f"{base}/res/v1",
                   websearch_api_key="brave-key")
    [result] = parse_results(await tools["web_search"].ainvoke({"query": "ethereum"}))
    assert result.title == "What is Ethereum?"
    assert result.content == "Ethereum is a technology & a community."
    assert result.source == "https://ethereum.org/en/"
    [req] = received
    assert req["path"] == "/res/v1/web/search"
    assert req["params"] == {"q": "ethereum", "count": str(websearch.MAX_RESULTS)}
    assert req["headers"]["x-subscription-token"] == "brave-key"


def _fetch_tool(allow_private: bool, base: str) -> BaseTool:
    return _tools(websearch_provider="searxng", websearch_endpoint=f"{base}/searx",
                  outbound_allow_private=allow_private)["fetch_page"]


async def test_fetch_page_returns_readable_text(server: tuple[str, Starlette]) -> None:
    base, _ = server
    out = await _fetch_tool(True, base).ainvoke({"url": f"{base}/page"})
    [result] = parse_results(out)
    assert result.source == f"{base}/page"
    assert result.title == "Ether price history"
    assert result.content == (
        "Home\nETH in 2024\nEther closed the year at $3,332.\nSource: example & co.")
    plain = parse_results(await _fetch_tool(True, base).ainvoke({"url": f"{base}/text"}))
    assert plain[0].content == "line one\nline two"


async def test_fetch_page_refuses_unreadable_and_failed_pages(
    server: tuple[str, Starlette],
) -> None:
    base, _ = server
    tool = _fetch_tool(True, base)
    with pytest.raises(ToolException, match="cannot read image/png"):
        await tool.ainvoke({"url": f"{base}/image"})
    with pytest.raises(ToolException, match="HTTP 404"):
        await tool.ainvoke({"url": f"{base}/missing"})


async def test_fetch_page_refuses_loopback_without_allow_private(
    server: tuple[str, Starlette],
) -> None:
    base, _ = server
    with pytest.raises(ToolException, match=r"refused: 127\.0\.0\.1 is a loopback address"):
        await _fetch_tool(False, base).ainvoke({"url": f"{base}/page"})


async def test_fetch_page_refuses_metadata_directly_and_by_redirect(
    server: tuple[str, Starlette],
) -> None:
    base, _ = server
    tool = _fetch_tool(True, base)
    with pytest.raises(ToolException, match=r"169\.254\.169\.254 is a cloud metadata address"):
        await tool.ainvoke({"url": "http://169.254.169.254/latest/meta-data/"})
    with pytest.raises(ToolException, match=r"169\.254\.169\.254 is a cloud metadata address"):
        await tool.ainvoke({"url": f"{base}/to-metadata"})
    with pytest.raises(ToolException, match="is not http or https"):
        await tool.ainvoke({"url": "file:///etc/passwd"})


def test_html_to_text_drops_scripts_and_styles() -> None:
    title, text = websearch.html_to_text(PAGE)
    assert "secret" not in text and "color" not in text and "enable js" not in text
    assert title == "Ether price history"
