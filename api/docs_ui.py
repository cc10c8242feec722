"""Swagger UI at `/docs`, with its assets served from the `fastapi-offline` package (Swagger UI
5, which reads OpenAPI 3.1 documents; no CDN, so the docs work in private networks) and its
start-up script from this package
(`api/static/docs/`), so the page runs under a strict Content-Security-Policy: scripts from
this origin only, no framing (`frame-ancestors 'none'` and `X-Frame-Options: DENY`).
"""

from __future__ import annotations

import mimetypes
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon.png"})
OWN_ASSETS = {"swagger-init.js": "text/javascript; charset=utf-8"}
SECURITY_HEADERS = {
    # Swagger UI sets inline styles (and renders data: images); it runs no inline script.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def assets_dir() -> Traversable:
    """Where the packaged Swagger UI files are."""
    return resources.files("fastapi_offline").joinpath("static")


def _own(name: str) -> bytes:
    return resources.files("api").joinpath("static", "docs", name).read_bytes()


async def docs_page(request: Request) -> Response:
    """GET /docs: the Swagger UI page, pointing at the packaged assets."""
    return HTMLResponse(_own("index.html"), headers=SECURITY_HEADERS)


async def docs_asset(request: Request) -> Response:
    """GET /docs/assets/{name}: one Swagger UI file (a fixed allow-list)."""
    name = str(request.path_params.get("name", ""))
    cache = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if name in OWN_ASSETS:
        return Response(_own(name), media_type=OWN_ASSETS[name], headers=cache)
    if name not in ASSETS:
        return JSONResponse({"detail": f"No docs asset named {name!r}."}, status_code=404)
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(assets_dir().joinpath(name).read_bytes(), media_type=media_type,
                    headers=cache)
