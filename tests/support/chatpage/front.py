"""A front before the real dev server, for the chat page's tests: what stands between a browser
and the app in Azure (the Functions host's key check, a network that drops connections).

    with front(live.url, key="k3y") as gate:     # routes other than the anonymous ones need
        ...                                     # x-functions-key, as on the Functions host
    with front(live.url) as gate:
        gate.cut(refuse=1)                      # every stream in flight is cut mid-body (the
        ...                                     # client sees its connection drop), and the
                                                # next request for a stream answers 502

With a key, routes other than the anonymous ones (`/chat`, its assets, `/openapi.json`,
`/health`, `/docs`) answer 401 with no body and no challenge unless `x-functions-key` holds it.
Everything else is forwarded as it comes, streams included; `requests` lists each forwarded
request (method, path, and its `Last-Event-ID` header).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from standins.loopback_http import serve_app

ANONYMOUS = ("/chat", "/openapi.json", "/health", "/docs")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
METHODS = ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"]


class _Cut(Exception):
    """Raised in a response body: the server closes the connection without ending the body."""


@dataclass
class Front:
    """The running front: its URL, what it forwarded, and the cut switch."""

    url: str = ""
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    _cuts: int = 0  # how many times cut() was called; a stream started before a cut ends
    _refuse: int = 0  # stream requests still to refuse with 502

    def cut(self, refuse: int = 0) -> None:
        """Drop every stream in flight at its next chunk; answer the next `refuse` stream
        requests (POST /stream, GET .../stream) with 502, as a gateway whose backend is gone."""
        self._refuse = refuse
        self._cuts += 1


@contextmanager
def front(target: str, key: str | None = None) -> Iterator[Front]:
    """Serve the front on a loopback port for the block."""
    client = httpx.AsyncClient(base_url=target, timeout=httpx.Timeout(30.0, read=60.0))
    gate = Front()

    async def forward(request: Request) -> Response:
        path = request.url.path
        anonymous = any(path == p or path.startswith(f"{p}/") for p in ANONYMOUS)
        if key is not None and not anonymous and request.headers.get("x-functions-key") != key:
            return Response(status_code=401)
        streamed = path.endswith("/stream")
        gate.requests.append((request.method, path, request.headers.get("last-event-id")))
        if streamed and gate._refuse > 0:
            gate._refuse -= 1
            return Response(status_code=502)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = await client.send(
            client.build_request(request.method, path, params=request.query_params,
                                 headers=headers, content=await request.body()),
            stream=True)
        cuts = gate._cuts

        async def body() -> AsyncIterator[bytes]:
            async for part in upstream.aiter_raw():
                if gate._cuts != cuts:
                    raise _Cut
                yield part

        return StreamingResponse(
            body(), status_code=upstream.status_code,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP},
            background=BackgroundTask(upstream.aclose))

    app = Starlette(routes=[Route("/{path:path}", forward, methods=METHODS)])
    with serve_app(app) as url:
        gate.url = url
        yield gate
