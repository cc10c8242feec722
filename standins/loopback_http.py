"""Serve an ASGI app (Starlette, FastAPI, ...) on 127.0.0.1 in a background thread, for tests.

    with serve_app(app) as base_url:
        httpx.get(f"{base_url}/path")

The socket is bound before the server starts (port 0, so the OS picks a free port), and
readiness is awaited by polling the server's `started` flag, never by a fixed sleep.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

_STARTUP_TIMEOUT_SECONDS = 10.0
_POLL_INTERVAL_SECONDS = 0.005


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Run `app` on a free loopback port for the duration of the block; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"loopback-http-{port}", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"loopback server on port {port} did not start")
            time.sleep(_POLL_INTERVAL_SECONDS)  # polling for readiness, not waiting blindly
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
