"""Runs an ASGI application for one request and returns what it answered as a Starlette
`Response`, so an app built by a library (the MCP SDK's) serves a route whose handler must return
a response object: the dev server's FastAPI route and the Functions trigger alike.

The application starts (its lifespan runs) for this one request and stops after it, so nothing
outlives the request and any instance can answer any request. It sees a fresh HTTP scope with
the request's method, headers and query string at the path it serves, the body the handler has
already read (and checked), then the client's own disconnect. Its answer is collected whole: use
this for applications that answer with one body (the MCP SDK in JSON-response mode), not for
streams.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Scope

# The HTTP scope keys an application may read (ASGI spec); the rest belong to the outer server.
_SCOPE_KEYS = ("asgi", "http_version", "method", "scheme", "server", "client", "query_string",
               "headers")


class NoResponse(RuntimeError):
    """The application finished without starting a response."""


def _scope(request: Request, path: str) -> Scope:
    scope: dict[str, Any] = {k: request.scope[k] for k in _SCOPE_KEYS if k in request.scope}
    scope.update(type="http", path=path, raw_path=path.encode(), root_path="")
    scope.setdefault("query_string", b"")
    return scope


async def call_once(app: Any, request: Request, body: bytes, path: str) -> Response:
    """Start `app` (a Starlette application, whose router holds its lifespan), send it the
    request with `body` at `path`, stop it, and return its response."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()  # only `http.disconnect` is left to come

    start: Message | None = None
    chunks: list[bytes] = []

    async def send(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    asgi: ASGIApp = app
    async with app.router.lifespan_context(app):
        await asgi(_scope(request, path), receive, send)
    if start is None:
        raise NoResponse(f"the application at {path} sent no response")
    response = Response(b"".join(chunks), status_code=int(start["status"]))
    response.raw_headers = [
        *((name, value) for name, value in start.get("headers", [])
          if name.lower() != b"content-length"),
        (b"content-length", str(len(response.body)).encode()),
    ]
    return response
