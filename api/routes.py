"""The route table: every path, its methods, handler, auth level and documented models.

The dev server (`api.app`) is built from this table, and a test checks that
`function_app.py` binds exactly these routes. Methods no route binds are answered from the
table too (`other_method`): `HEAD` as the path's `GET` without a body, `OPTIONS` with the
`Allow` header, anything else 405 with `Allow`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import compile_path

from api import agui, chat_ui, docs_ui, handlers, mcp_server, openai_compat
from api.models import (
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    Health,
    InvokeRequest,
    InvokeResponse,
    ThreadOut,
)

Handler = Callable[[Request], Awaitable[Response]]
# A protocol's own documentation of its operation (request and responses in that protocol's
# shapes): the operation's fields, which replace the generated ones, and the component schemas
# they refer to.
OperationDoc = Callable[[], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Route:
    """One HTTP route of the API."""

    path: str
    method: Literal["GET", "POST", "DELETE"]
    handler: Handler
    summary: str
    auth: Literal["function", "anonymous"] = "function"
    request_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    status_code: int = 200
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = field(default=("chat",))
    in_schema: bool = True
    doc: OperationDoc | None = None


async def openapi_json(request: Request) -> Response:
    """GET /openapi.json: the OpenAPI document."""
    from starlette.responses import JSONResponse

    from api.openapi import openapi_document

    return JSONResponse(openapi_document())


ROUTES: tuple[Route, ...] = (
    Route("/invoke", "POST", handlers.invoke, "Answer one question", request_model=InvokeRequest,
          response_model=InvokeResponse,
          errors=(400, 401, 404, 409, 413, 422, 429, 500, 502, 504)),
    Route("/stream", "POST", handlers.stream, "Answer one question as Server-Sent Events",
          request_model=InvokeRequest, errors=(400, 401, 404, 409, 413, 422)),
    Route("/batch", "POST", handlers.batch, "Answer several questions",
          request_model=BatchRequest, response_model=BatchResponse,
          errors=(400, 401, 404, 413, 422)),
    Route("/threads/{thread_id}", "GET", handlers.get_thread, "Read a thread's messages",
          response_model=ThreadOut, errors=(401, 404, 422, 500, 502), tags=("threads",)),
    Route("/threads/{thread_id}", "DELETE", handlers.delete_thread, "Delete a thread",
          status_code=204, errors=(401, 404, 409, 422, 500, 502), tags=("threads",)),
    Route("/v1/chat/completions", "POST", openai_compat.chat_completions,
          "OpenAI-compatible chat completion", tags=("openai",), doc=openai_compat.chat_openapi),
    Route("/v1/models", "GET", openai_compat.list_models, "OpenAI-compatible model list",
          tags=("openai",), doc=openai_compat.models_openapi),
    Route("/mcp", "POST", mcp_server.mcp, "MCP server (streamable HTTP)", tags=("mcp",),
          doc=mcp_server.openapi),
    Route("/ag-ui", "POST", agui.ag_ui, "AG-UI agent run", tags=("ag-ui",), doc=agui.openapi),
    Route("/health", "GET", handlers.health, "Liveness", auth="anonymous",
          response_model=Health, tags=("meta",)),
    Route("/openapi.json", "GET", openapi_json, "OpenAPI document", auth="anonymous",
          tags=("meta",), in_schema=False),
    Route("/docs", "GET", docs_ui.docs_page, "Swagger UI", auth="anonymous", tags=("meta",),
          in_schema=False),
    Route("/docs/assets/{name}", "GET", docs_ui.docs_asset, "Swagger UI assets",
          auth="anonymous", tags=("meta",), in_schema=False),
    Route("/chat", "GET", chat_ui.chat_page, "Chat page", auth="anonymous", tags=("meta",),
          in_schema=False),
    Route("/chat/assets/{name}", "GET", chat_ui.chat_asset, "Chat page assets",
          auth="anonymous", tags=("meta",), in_schema=False),
)


def trigger_methods(route: Route) -> tuple[str, ...]:
    """The methods a host binds for `route`: its own, and `HEAD` with `GET`."""
    return (route.method, "HEAD") if route.method == "GET" else (route.method,)


@cache
def _path_regex(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]


def allowed_methods(path: str) -> tuple[list[Route], list[str], dict[str, str]]:
    """For a request path: its routes, the methods it answers (`Allow`) and its path params."""
    matching: list[Route] = []
    params: dict[str, str] = {}
    for route in ROUTES:
        match = _path_regex(route.path).match(path)
        if match:
            matching.append(route)
            params = match.groupdict()
    methods = [m for r in matching for m in trigger_methods(r)]
    return matching, [*methods, "OPTIONS"] if matching else [], params


async def other_method(request: Request) -> Response:
    """A method no route of this path binds: HEAD as GET, OPTIONS with `Allow`, else 405."""
    path = request.url.path
    matching, allowed, params = allowed_methods(path)
    if not matching:
        detail = f"No route {path!r}. See /docs for the API."
        return JSONResponse(ErrorResponse(detail=detail).model_dump(), status_code=404)
    allow = {"Allow": ", ".join(allowed)}
    get = next((r for r in matching if r.method == "GET"), None)
    if request.method == "HEAD" and get is not None:
        request.scope["path_params"] = params  # the server sends no body for HEAD
        return await get.handler(request)
    if request.method == "OPTIONS":
        return Response(status_code=204, headers=allow)
    detail = f"{request.method} is not allowed on {path}; allowed: {allow['Allow']}."
    return JSONResponse(ErrorResponse(detail=detail).model_dump(), status_code=405,
                        headers=allow)
