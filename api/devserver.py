"""The local dev server: uvicorn on HOST:PORT serving `api.app.create_app()`."""

from __future__ import annotations

import logging

import uvicorn

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


def main() -> None:
    """Run the server until interrupted."""
    settings = get_settings()
    host, port = settings.host, settings.port
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(banner(host, port), flush=True)
    uvicorn.run(create_app(), host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
