"""Runs the real dev server (`python -m api`, uvicorn) in a subprocess on a free loopback port.

    with live_server(tmp_path, {"MODEL_PROVIDER": "offline"}) as server:
        requests.post(f"{server.url}/invoke", json=...)

The environment is isolated: a data folder of the test's own, and only the settings given.
Readiness is awaited by polling `/health` with a deadline.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60.0
# Settings from the developer's shell must not leak into tests.
_PREFIXES = ("AZURE_", "OPENAI_", "MODEL_", "COSMOS", "SQL_", "WEBSEARCH_", "APISEARCH_",
             "DOCS_", "DATA_DIR", "MAX_", "BATCH_", "SSE_", "THREAD_", "OUTBOUND_", "HOST", "PORT",
             "AUTH_", "TELEMETRY_", "APPLICATIONINSIGHTS_", "OTEL_")


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    """A running dev server."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")


def server_env(data_dir: Path, env: dict[str, str] | None) -> dict[str, str]:
    """The child's environment: this one minus app settings, plus the test's."""
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith(_PREFIXES)}
    base.update({"DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", "LOG_LEVEL": "INFO"})
    base.update(env or {})
    return base


@contextmanager
def live_server(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Start `python -m api` with these settings; stop it (SIGTERM, then kill) at exit."""
    port = free_port()
    full_env = server_env(data_dir, env)
    full_env.update({"HOST": "127.0.0.1", "PORT": str(port)})
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"server-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "api"], cwd=ROOT, env=full_env,
                                   stdout=log_file, stderr=subprocess.STDOUT)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.log()}")
            try:
                if requests.get(f"{server.url}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{server.log()}")
            time.sleep(0.05)  # polling for readiness
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
