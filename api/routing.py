"""A route of the API (`Route`: path, method, handler, auth level, documented models) and the
rules every host applies to a route table: which methods a host binds for a route (`HEAD` with
each `GET`), and how a method no route binds is answered (`answer_other_method`: `HEAD` as the
path's `GET` without a body, `OPTIONS` with the `Allow` header, anything else 405 with `Allow`,
an unknown path 404).

The table itself is `api.routes.ROUTES`; this module knows no handler, so the OpenAPI document
(`api.openapi`) can be built from the table without importing it back.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path

from api.problems import Problem

Handler = Callable[[Request], Awaitable[Response]]
Method = Literal["GET", "POST", "PATCH", "DELETE"]
# A protocol's own documentation of its operation (request and responses in that protocol's
# shapes): the operation's fields, which replace the generated ones, and the component schemas
# they refer to.
OperationDoc = Callable[[], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Route:
    """One HTTP route of the API."""

    path: str
    method: Method
    handler: Handler
    summary: str
    auth: Literal["function", "anonymous"] = "function"
    request_model: type[BaseModel] | None = None
    response_model: type[BaseModel] | None = None
    status_code: int = 200
    no_content: str | None = None  # what a 204 means, when the route may answer one as well
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = field(default=("chat",))
    in_schema: bool = True
    doc: OperationDoc | None = None


def trigger_methods(route: Route) -> tuple[str, ...]:
    """The methods a host binds for `route`: its own, and `HEAD` with `GET`."""
    return (route.method, "HEAD") if route.method == "GET" else (route.method,)


@cache
def _path_regex(path: str) -> re.Pattern[str]:
    return compile_path(path)[0]


def allowed_methods(routes: Sequence[Route], path: str
                    ) -> tuple[list[Route], list[str], dict[str, str]]:
    """For a request path: its routes, the methods it answers (`Allow`) and its path params."""
    matching: list[Route] = []
    params: dict[str, str] = {}
    for route in routes:
        match = _path_regex(route.path).match(path)
        if match:
            matching.append(route)
            params = match.groupdict()
    methods = [m for r in matching for m in trigger_methods(r)]
    return matching, [*methods, "OPTIONS"] if matching else [], params


async def answer_other_method(routes: Sequence[Route], request: Request) -> Response:
    """A method no route of this path binds: HEAD as GET, OPTIONS with `Allow`, else 405."""
    path = request.url.path
    matching, allowed, params = allowed_methods(routes, path)
    if not matching:
        return Problem(404, f"No route {path!r}. See /docs for the API.").response()
    allow = {"Allow": ", ".join(allowed)}
    get = next((r for r in matching if r.method == "GET"), None)
    if request.method == "HEAD" and get is not None:
        request.scope["path_params"] = params  # the server sends no body for HEAD
        return await get.handler(request)
    if request.method == "OPTIONS":
        return Response(status_code=204, headers=allow)
    detail = f"{request.method} is not allowed on {path}; allowed: {allow['Allow']}."
    return Problem(405, detail, headers=allow).response()
