"""A front that asks for a function key, as the Azure Functions host does, before the real dev
server: routes other than the anonymous ones (`/chat`, its assets, `/openapi.json`, `/health`,
`/docs`) answer 401 with no body and no challenge unless `x-functions-key` holds the key.
Everything else is forwarded as it comes, streams included.

    with keyed_front(live.url, "the-key") as url:
        ...  # open f"{url}/chat"
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from standins.loopback_http import serve_app

ANONYMOUS = ("/chat", "/openapi.json", "/health", "/docs")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@contextmanager
def keyed_front(target: str, key: str) -> Iterator[str]:
    """Serve the front on a loopback port for the block; yield its base URL."""
    client = httpx.AsyncClient(base_url=target, timeout=httpx.Timeout(30.0, read=60.0))

    async def forward(request: Request) -> Response:
        path = request.url.path
        anonymous = any(path == p or path.startswith(f"{p}/") for p in ANONYMOUS)
        if not anonymous and request.headers.get("x-functions-key") != key:
            return Response(status_code=401)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = await client.send(
            client.build_request(request.method, path, params=request.query_params,
                                 headers=headers, content=await request.body()),
            stream=True)

        async def body() -> AsyncIterator[bytes]:
            async for part in upstream.aiter_raw():
                yield part

        return StreamingResponse(
            body(), status_code=upstream.status_code,
            headers={k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP},
            background=BackgroundTask(upstream.aclose))

    methods = ["GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(routes=[Route("/{path:path}", forward, methods=methods)])
    with serve_app(app) as url:
        yield url
