"""The MCP server at `POST /mcp`: streamable HTTP, served by the official `mcp` SDK in stateless,
JSON-response mode, so any instance answers any request and each answer is one JSON body.

For each request the handler checks what the API checks of every request (the caller under
AUTH_MODE=easyauth, 401; a JSON content type, 415; the body size, 413; strict UTF-8 JSON, 400),
answering in JSON-RPC's error shape (`{"jsonrpc": "2.0", "id": null, "error": {"code",
"message"}}`), then runs the SDK's application for that one request through `api.asgi_bridge`
and returns its response: the same path on the dev server (FastAPI) and through the Functions
trigger. The SDK answers the protocol itself: `initialize` and `tools/list` (handshake-era
clients), `server/discover` and single requests (2026-07-28 clients), `tools/call`, and its own
errors (406 without `Accept: application/json`, JSON-RPC errors for unknown methods). `GET`
(a server-to-client stream) is 405: a stateless server has nothing to push.

The tools are `api.mcp_tools`'s, imported on the first request in a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from contextvars import ContextVar
from types import ModuleType
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.ownership import Owner
from agent.settings import get_settings
from api.about import app_version
from api.asgi_bridge import call_once
from api.auth import caller
from api.bodies import body_limit, read_json
from api.problems import Problem, problem_of

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

PATH = "/mcp"
PARSE_ERROR, INVALID_REQUEST, INTERNAL_ERROR = -32700, -32600, -32603
_owner: ContextVar[Owner | None] = ContextVar("mcp_caller", default=None)
_loaded: list[tuple[ModuleType, MCPServer]] = []  # api.mcp_tools and the server, once built


def error_response(status: int, message: str, code: int = INVALID_REQUEST,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON-RPC error answering no particular request (the HTTP request itself failed)."""
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _the_server() -> tuple[ModuleType, MCPServer]:
    """`api.mcp_tools` (imported off the event loop) and the MCP server, built on first use
    (its tools hold no state, nor any event loop's)."""
    if not _loaded:
        module = await asyncio.to_thread(importlib.import_module, "api.mcp_tools")
        _loaded[:] = [(module, module.build_server(app_version(), _owner.get))]
    return _loaded[0]


async def mcp(request: Request) -> Response:
    """POST /mcp: one JSON-RPC message of the MCP streamable HTTP transport."""
    settings = get_settings()
    try:
        owner = caller(request)
        # The API's body rules; the SDK reads the bytes.
        body, _ = await read_json(request, body_limit(settings.max_input_chars,
                                                      settings.max_batch_questions))
    except Problem as problem:
        code = PARSE_ERROR if problem.status == 400 else INVALID_REQUEST
        status = 400 if problem.status == 422 else problem.status
        return error_response(status, problem.detail, code, problem.headers or None)
    try:
        tools, server = await _the_server()
    except Exception as exc:
        failed = problem_of(exc, "building the MCP server")
        return error_response(failed.status, failed.detail, INTERNAL_ERROR)
    app = tools.http_app(server, PATH)
    token = _owner.set(owner)
    try:
        return await call_once(app, request, body, PATH)
    finally:
        _owner.reset(token)


def openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """The operation's documentation and the component schemas it refers to."""
    message = {"type": "object", "required": ["jsonrpc"], "properties": {
        "jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer"]},
        "method": {"type": "string"}, "params": {"type": "object"},
        "result": {}, "error": {"$ref": "#/components/schemas/JsonRpcErrorObject"}}}
    error_object = {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "integer"}, "message": {"type": "string"}, "data": {}}}
    error = {"type": "object", "required": ["jsonrpc", "id", "error"], "properties": {
        "jsonrpc": {"const": "2.0"}, "id": {"type": "null"},
        "error": {"$ref": "#/components/schemas/JsonRpcErrorObject"}}}
    json_body = {"application/json": {"schema": {"$ref": "#/components/schemas/JsonRpcMessage"}}}
    errors = {str(s): {"description": d, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/JsonRpcError"}}}}
        for s, d in ((400, "Not JSON, or not a JSON-RPC message"), (401, "Not signed in"),
                     (406, "Accept must include application/json"), (413, "Body too large"),
                     (415, "Content-Type must be application/json"))}
    operation = {
        "description": "Model Context Protocol, streamable HTTP transport, stateless, JSON "
                       "responses. One tool, `ask` (question, thread_id?, specialist?). Use an "
                       "MCP client: " + json.dumps({"servers": {"smartbot": {
                           "type": "http", "url": "https://<app>/mcp"}}}),
        "requestBody": {"required": True, "content": json_body},
        "responses": {"200": {"description": "The JSON-RPC response", "content": json_body},
                      "202": {"description": "A notification or response, accepted"},
                      **errors},
    }
    return operation, {"JsonRpcMessage": message, "JsonRpcError": error,
                       "JsonRpcErrorObject": error_object}
