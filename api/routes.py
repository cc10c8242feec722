"""The route table: every path, its methods, handler, auth level and documented models.

The dev server (`api.app`) is built from this table, the OpenAPI document is a function of it
(`api.openapi.build_document`), and a test checks that `function_app.py` binds exactly these
routes. Methods no route binds are answered from the table too (`other_method`, see
`api.routing`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.settings import get_settings
from api import agui, chat_ui, docs_ui, handlers, mcp_server, openai_compat, runs, threads
from api.openapi import build_document
from api.routing import Route, answer_other_method
from api.schemas import (
    BatchRequest,
    BatchResponse,
    Health,
    InvokeRequest,
    InvokeResponse,
    StreamRequest,
)
from api.thread_schemas import (
    FeedbackOut,
    FeedbackRequest,
    RenameRequest,
    ThreadList,
    ThreadOut,
    ThreadSummaryOut,
)


async def openapi_json(request: Request) -> Response:
    """GET /openapi.json: the OpenAPI document."""
    return JSONResponse(openapi_document())


async def other_method(request: Request) -> Response:
    """A method no route of this path binds (see `api.routing.answer_other_method`)."""
    return await answer_other_method(ROUTES, request)


ROUTES: tuple[Route, ...] = (
    Route("/invoke", "POST", handlers.invoke, "Answer one question", request_model=InvokeRequest,
          response_model=InvokeResponse,
          errors=(400, 401, 404, 409, 413, 422, 429, 500, 502, 504)),
    Route("/stream", "POST", handlers.stream, "Answer one question as Server-Sent Events",
          request_model=StreamRequest, errors=(400, 401, 404, 409, 413, 422, 500, 502)),
    Route("/batch", "POST", handlers.batch, "Answer several questions",
          request_model=BatchRequest, response_model=BatchResponse,
          errors=(400, 401, 404, 413, 422, 500, 502)),
    Route("/threads", "GET", threads.list_threads, "List the caller's threads",
          response_model=ThreadList, errors=(401, 422, 500, 502), tags=("threads",)),
    Route("/threads/{thread_id}", "GET", threads.get_thread, "Read a thread's messages",
          response_model=ThreadOut, errors=(401, 404, 422, 500, 502), tags=("threads",)),
    Route("/threads/{thread_id}", "PATCH", threads.rename_thread, "Rename a thread",
          request_model=RenameRequest, response_model=ThreadSummaryOut,
          errors=(401, 404, 500, 502), tags=("threads",)),
    Route("/threads/{thread_id}", "DELETE", threads.delete_thread, "Delete a thread",
          status_code=204, errors=(401, 404, 409, 422, 500, 502), tags=("threads",)),
    Route("/threads/{thread_id}/runs/{run_id}/stream", "GET", runs.join_run,
          "Rejoin a streamed run (Server-Sent Events after Last-Event-ID)",
          no_content="The run is over, with no event after Last-Event-ID.",
          errors=(401, 404, 422, 500, 502), tags=("threads",)),
    Route("/threads/{thread_id}/runs/{run_id}/cancel", "POST", runs.cancel_run,
          "Stop a streamed run", status_code=202,
          no_content="The run is over already: there is nothing to stop.",
          errors=(401, 404, 422, 500, 502), tags=("threads",)),
    Route("/threads/{thread_id}/runs/{run_id}/feedback", "POST", threads.give_feedback,
          "Give feedback on an answer", request_model=FeedbackRequest,
          response_model=FeedbackOut, errors=(401, 404, 500, 502), tags=("threads",)),
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


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of this table and the process's settings (built once)."""
    return build_document(ROUTES, get_settings())
