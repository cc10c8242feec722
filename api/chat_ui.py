"""The chat page at `/chat`: plain HTML, CSS and JavaScript shipped in this package
(`api/static/chat/`, read with `importlib.resources`), no CDN and no build step.

The page calls `/stream` and `/threads/{id}` on the same origin, sending the function key the
user typed (kept in the tab's session storage) as `x-functions-key`; the page and its assets
themselves are anonymous, like `/docs`. A strict Content-Security-Policy allows only this
origin's scripts, styles and API calls.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

ASSET_TYPES = {"chat.js": "text/javascript; charset=utf-8",
               "chat.css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def static_dir() -> Traversable:
    """Where the page's files are, inside the `api` package."""
    return resources.files("api").joinpath("static", "chat")


async def chat_page(request: Request) -> Response:
    """GET /chat: the chat page."""
    html = static_dir().joinpath("index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=SECURITY_HEADERS)


async def chat_asset(request: Request) -> Response:
    """GET /chat/assets/{name}: the page's script or stylesheet (a fixed allow-list)."""
    name = str(request.path_params.get("name", ""))
    media_type = ASSET_TYPES.get(name)
    if media_type is None:
        return JSONResponse({"detail": f"No chat asset named {name!r}."}, status_code=404)
    body = static_dir().joinpath(name).read_bytes()
    return Response(body, media_type=media_type, headers=SECURITY_HEADERS)
