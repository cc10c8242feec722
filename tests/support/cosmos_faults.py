"""A fault-injecting HTTP proxy in front of the Cosmos stand-in, for tests.

    with fault_proxy(cosmos.url, ["ok", "429", "ok", "503", "drop", "ok", "lost"]) as proxy:
        CosmosClient(proxy.url, credential=cosmos.key) ...
        proxy.injected   # {"429": n, ...}

Data requests (not the account or metadata reads) take the next fault of the cycle:
`429` (throttled, `x-ms-retry-after-ms: 10`, as the service answers), `503` (service
unavailable), `drop` (the connection closes before the request reaches the server) or `lost`
(the server does the work, then the connection closes before the answer: the client can't know
it succeeded). The account read is rewritten so the SDK keeps talking to the proxy.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import ClientSession, TCPConnector, web

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


@dataclass
class FaultProxy:
    """Where the proxy listens and what it injected so far."""

    url: str = ""
    injected: Counter[str] = field(default_factory=Counter)


def _is_data_request(request: web.Request) -> bool:
    return "/docs" in request.path


@contextmanager
def fault_proxy(upstream: str, cycle: Sequence[str]) -> Iterator[FaultProxy]:
    """Run the proxy on a free loopback port for the duration of the block."""
    proxy = FaultProxy()
    faults = itertools.cycle(cycle)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    state: dict[str, object] = {}

    async def handle(request: web.Request) -> web.StreamResponse:
        fault = next(faults) if _is_data_request(request) else "ok"
        if fault in ("429", "503"):
            proxy.injected[fault] += 1
            await request.read()
            status, code = (429, "TooManyRequests") if fault == "429" else (503,
                                                                             "ServiceUnavailable")
            return web.json_response({"code": code, "message": f"injected {fault}"},
                                     status=status, headers={"x-ms-retry-after-ms": "10"})
        if fault == "drop":
            proxy.injected[fault] += 1
            await request.read()
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPInternalServerError  # never sent: the connection is gone
        session: ClientSession = state["session"]  # type: ignore[assignment]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with session.request(request.method, f"{upstream}{request.path_qs}",
                                   headers=headers, data=await request.read()) as answer:
            body = await answer.read()
            out_headers = {k: v for k, v in answer.headers.items()
                           if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"}
            status = answer.status
        if fault == "lost":
            proxy.injected[fault] += 1
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPInternalServerError  # never sent
        if request.path in ("/", "") and request.method == "GET":
            account = json.loads(body)
            for key in ("writableLocations", "readableLocations"):
                for location in account.get(key, []):
                    location["databaseAccountEndpoint"] = f"{proxy.url}/"
            body = json.dumps(account).encode()
        return web.Response(status=status, body=body, headers=out_headers)

    async def serve() -> None:
        state["session"] = ClientSession(connector=TCPConnector(ssl=False))
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        proxy.url = f"http://127.0.0.1:{port}"
        state["runner"] = runner
        ready.set()

    async def stop() -> None:
        await state["runner"].cleanup()  # type: ignore[attr-defined]
        await state["session"].close()  # type: ignore[attr-defined]

    thread = threading.Thread(target=loop.run_forever, name="cosmos-fault-proxy", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(timeout=10)
    ready.wait(timeout=10)
    try:
        yield proxy
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
