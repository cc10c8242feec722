"""A small OpenAPI-described crypto price API for tests, served on loopback.

`create_app()` returns a Starlette app with `GET /v1/price?symbol=ETH&currency=USD`,
`GET /v1/assets`, `GET /v1/assets/{symbol}` and its spec at `GET /openapi.json` (whose server
URL `/v1` is relative, so it resolves against wherever the spec was fetched from). Every request
is recorded in `app.state.requests` (method, raw path, query string, headers) so tests can
assert exactly what a tool sent. Setting `app.state.redirect_price_to` to a URL makes
`/v1/price` answer with a 302 to it (to test that redirects are re-checked); setting
`app.state.price_delay` (seconds) makes it answer slowly (to test keep-alive during a slow tool).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

SPEC_PATH = Path(__file__).with_name("openapi.json")

ASSETS: dict[str, dict[str, Any]] = {
    "BTC": {"symbol": "BTC", "name": "Bitcoin", "active": True,
            "price": {"USD": 97000.5, "EUR": 89000.25, "GBP": 76000.0}},
    "ETH": {"symbol": "ETH", "name": "Ethereum", "active": True,
            "price": {"USD": 3456.78, "EUR": 3170.12, "GBP": 2710.4}},
    "LUNA": {"symbol": "LUNA", "name": "Terra Classic", "active": False,
             "price": {"USD": 0.0001, "EUR": 0.0001, "GBP": 0.0001}},
}


def load_spec() -> dict[str, Any]:
    """The API's OpenAPI document (with its relative server URL)."""
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def create_app() -> Starlette:
    """A fresh app with an empty request log."""

    async def spec(request: Request) -> JSONResponse:
        return JSONResponse(load_spec())

    async def price(request: Request) -> Response:
        if request.app.state.price_delay:
            await asyncio.sleep(request.app.state.price_delay)
        if request.app.state.redirect_price_to:
            return RedirectResponse(request.app.state.redirect_price_to, status_code=302)
        symbol = request.query_params.get("symbol", "").upper()
        currency = request.query_params.get("currency", "USD")
        asset = ASSETS.get(symbol)
        if asset is None or currency not in asset["price"]:
            return JSONResponse({"error": f"unknown symbol or currency: {symbol}"}, 404)
        return JSONResponse({"symbol": symbol, "currency": currency,
                             "price": asset["price"][currency], "as_of": "2025-01-01T00:00:00Z"})

    async def assets(request: Request) -> JSONResponse:
        include_inactive = request.query_params.get("include-inactive") == "true"
        limit = int(request.query_params.get("limit", "100"))
        rows = [{"symbol": a["symbol"], "name": a["name"]} for a in ASSETS.values()
                if a["active"] or include_inactive]
        return JSONResponse({"assets": rows[:limit]})

    async def asset(request: Request) -> JSONResponse:
        found = ASSETS.get(str(request.path_params["symbol"]).upper())
        if found is None:
            return JSONResponse({"error": "unknown asset"}, 404)
        return JSONResponse({k: v for k, v in found.items() if k != "price"})

    requests: list[dict[str, Any]] = []

    class Recorder:
        """Logs every HTTP request as received, before routing (so 404s are seen too)."""

        def __init__(self, inner: ASGIApp) -> None:
            self.inner = inner

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                request = Request(scope)
                requests.append({
                    "method": request.method,
                    "raw_path": scope["raw_path"].decode("latin-1"),
                    "query": request.url.query,
                    "headers": dict(request.headers),
                })
            await self.inner(scope, receive, send)

    app = Starlette(middleware=[Middleware(Recorder)], routes=[
        Route("/openapi.json", spec),
        Route("/v1/price", price),
        Route("/v1/assets", assets),
        Route("/v1/assets/{symbol}", asset),
    ])
    app.state.requests = requests
    app.state.redirect_price_to = None
    app.state.price_delay = 0.0
    return app
