"""The local dev server's ASGI app: FastAPI serving the same handlers as the Functions app.

`create_app()` builds it from `api.routes.ROUTES`; `GET /` redirects to `/docs`. The bot is
built on first use and closed at shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from api.handlers import app_version
from api.openapi import add_request_models, openapi_extra, responses
from api.routes import ROUTES

TITLE = "Smart bot API"
DESCRIPTION = (
    "A LangGraph multi-agent chat bot: a supervisor routes each question (or an explicit "
    "`@docsearch`, `@sqlsearch`, `@apisearch`, `@websearch` mention) to a specialist that "
    "answers from its tools, with citations. `/stream` streams the answer as Server-Sent "
    "Events."
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build nothing at start (the bot is lazy); close the bot at shutdown."""
    from agent.runtime import close_bot

    yield
    await close_bot()


async def root(request: Request) -> Response:
    """GET /: to the API docs."""
    return RedirectResponse("/docs")


def create_app() -> FastAPI:
    """The FastAPI app with every route of the table."""
    app = FastAPI(title=TITLE, description=DESCRIPTION, version=app_version(), docs_url=None,
                  redoc_url=None, openapi_url=None, lifespan=lifespan)
    for route in ROUTES:
        app.add_api_route(
            route.path, route.handler, methods=[route.method], summary=route.summary,
            name=f"{route.method.lower()}_{route.path}", tags=list(route.tags),
            include_in_schema=route.in_schema, status_code=route.status_code,
            responses=responses(route), openapi_extra=openapi_extra(route),
        )
    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version,
                                   description=app.description, routes=app.routes)
            app.openapi_schema = add_request_models(document)
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app
