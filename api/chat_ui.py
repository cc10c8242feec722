"""The chat page at `/chat`: HTML, CSS and JavaScript modules shipped in this package
(`api/static/chat/`, read with `importlib.resources`), no CDN and no build step.

Two libraries are vendored, byte for byte as npm publishes them (a test compares them with the
pinned versions' packages), with their licences beside them in `api/static/chat/vendor/`:
`marked` (Markdown to HTML) and `DOMPurify` (the HTML sanitizer every rendered answer goes
through).

The page calls `/stream` and `/threads...` on the same origin, sending the function key the
user gave (kept in the tab's session storage) as `x-functions-key`; the page and its assets
themselves are anonymous, like `/docs`. A strict Content-Security-Policy allows only this
origin's scripts, styles and API calls, no inline script or style, and only the sanitizer's
Trusted Types policy may turn a string into HTML.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import cache, lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".txt": "text/plain; charset=utf-8"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "require-trusted-types-for 'script'; trusted-types dompurify"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def static_dir() -> Traversable:
    """Where the page's files are, inside the `api` package."""
    return resources.files("api").joinpath("static", "chat")


@cache
def assets() -> dict[str, Traversable]:
    """Every file the page may load, by the name it is served under: the page's own files and
    the vendored ones (`vendor/`), of the media types above."""
    found: dict[str, Traversable] = {}
    for folder in (static_dir(), static_dir().joinpath("vendor")):
        for item in folder.iterdir():
            if item.is_file() and _suffix(item.name) in MEDIA_TYPES:
                found[item.name] = item
    return found


def _suffix(name: str) -> str:
    return name[name.rfind("."):] if "." in name else ""


@lru_cache(maxsize=64)
def _gzipped(name: str, etag: str) -> bytes:
    """An asset compressed once per content (the entity tag names the content)."""
    return gzip.compress(assets()[name].read_bytes(), compresslevel=9, mtime=0)


async def chat_page(request: Request) -> Response:
    """GET /chat: the chat page."""
    html = static_dir().joinpath("index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=SECURITY_HEADERS)


async def chat_asset(request: Request) -> Response:
    """GET /chat/assets/{name}: one of the page's scripts, its stylesheet or a vendored
    library's licence (an allow-list), gzipped for a client that takes it (about a third of
    the bytes), with an entity tag so a reload revalidates for free."""
    name = str(request.path_params.get("name", ""))
    if name not in assets():
        return JSONResponse({"detail": f"No chat asset named {name!r}."}, status_code=404)
    body = assets()[name].read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**SECURITY_HEADERS, "ETag": etag, "Vary": "Accept-Encoding"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        body = _gzipped(name, etag)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=MEDIA_TYPES[_suffix(name)], headers=headers)
