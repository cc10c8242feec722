"""The local dev server: uvicorn on HOST:PORT serving `api.app.create_app()`."""

from __future__ import annotations

import logging

import uvicorn
from starlette.types import ASGIApp

from agent.settings import get_settings
from api.app import create_app


def banner(host: str, port: int) -> str:
    """What to open and a first request to try."""
    base = f"http://{host}:{port}"
    return (
        f"\n  Smart bot API on {base}  (docs: {base}/docs)\n"
        f"  Try: curl -N -X POST {base}/stream -H 'Content-Type: application/json' "
        "-d '{\"user_input\": \"@docsearch how do I deploy to Azure?\"}'\n"
    )


def serve(app: ASGIApp) -> None:
    """Serve `app` on HOST:PORT as the dev server does (LOG_LEVEL logging, uvicorn's options)
    until interrupted."""
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=5)


def main() -> None:
    """Run the server until interrupted."""
    settings = get_settings()
    print(banner(settings.host, settings.port), flush=True)
    serve(create_app())


if __name__ == "__main__":
    main()
