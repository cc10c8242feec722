"""The local dev server's ASGI app: FastAPI serving the same handlers as the Functions app.

`create_app()` builds it from `api.routes.ROUTES`; `GET /` redirects to `/docs`. Every other
method and path goes to `api.routes.other_method` (HEAD, OPTIONS, 405 with `Allow`, 404), as on
the Functions host. Its OpenAPI document is the table's (`api.routes.openapi_document`). The
bot is built on first use and closed at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from agent.runtime import close_bot
from api.about import DESCRIPTION, TITLE, app_version
from api.openapi import api_route
from api.routes import ROUTES, openapi_document, other_method


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build nothing at start (the bot is lazy); close the bot at shutdown."""
    yield
    await close_bot()


async def root(request: Request) -> Response:
    """GET /: to the API docs."""
    return RedirectResponse("/docs")


class _OtherMethods:
    """ASGI app for whatever no route matched fully: methods a path doesn't bind, unknown
    paths. A class, so Starlette's `Route` takes every method for it."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await other_method(Request(scope, receive))
        await response(scope, receive, send)


def create_app() -> FastAPI:
    """The FastAPI app with every route of the table."""
    app = FastAPI(title=TITLE, description=DESCRIPTION, version=app_version(), docs_url=None,
                  redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.router.routes.extend(api_route(route) for route in ROUTES)
    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    # Last: a full match here beats the router's partial (wrong-method) matches above.
    app.router.routes.append(StarletteRoute("/{path:path}", _OtherMethods(),
                                            include_in_schema=False))

    def document() -> dict[str, Any]:
        return openapi_document()

    app.openapi = document  # type: ignore[method-assign]
    return app
