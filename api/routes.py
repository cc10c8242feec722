"""The route table: every path, its methods, handler, auth level and documented models.

The dev server (`api.app`) is built from this table, and a test checks that
`function_app.py` binds exactly these routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from api import chat_ui, docs_ui, handlers
from api.models import (
    BatchRequest,
    BatchResponse,
    Health,
    InvokeRequest,
    InvokeResponse,
    ThreadOut,
)

Handler = Callable[[Request], Awaitable[Response]]


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


async def openapi_json(request: Request) -> Response:
    """GET /openapi.json: the OpenAPI document."""
    from starlette.responses import JSONResponse

    from api.openapi import openapi_document

    return JSONResponse(openapi_document())


ROUTES: tuple[Route, ...] = (
    Route("/invoke", "POST", handlers.invoke, "Answer one question", request_model=InvokeRequest,
          response_model=InvokeResponse, errors=(400, 401, 404, 413, 422, 500, 502, 504)),
    Route("/stream", "POST", handlers.stream, "Answer one question as Server-Sent Events",
          request_model=InvokeRequest, errors=(400, 401, 404, 413, 422)),
    Route("/batch", "POST", handlers.batch, "Answer several questions",
          request_model=BatchRequest, response_model=BatchResponse,
          errors=(400, 401, 404, 413, 422)),
    Route("/threads/{thread_id}", "GET", handlers.get_thread, "Read a thread's messages",
          response_model=ThreadOut, errors=(401, 404, 422), tags=("threads",)),
    Route("/threads/{thread_id}", "DELETE", handlers.delete_thread, "Delete a thread",
          status_code=204, errors=(401, 404, 422), tags=("threads",)),
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
