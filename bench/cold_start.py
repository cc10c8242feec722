"""Item 4: cold start. Time to import `function_app` (the Functions host's indexing) in a fresh
interpreter, time from spawning a server process to its first streamed token, and how `/health`
answers while our server builds its bot for the first request (the baseline builds before it
listens, so it has no such window).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import connect_sse

from bench.config import QUESTION, Size
from bench.processes import ROOT, Proc, start_server, stop, wait_ready
from bench.stats import ms

_IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str, repeats: int) -> float:
    """Median seconds to import `module` in a fresh interpreter."""
    times = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", _IMPORT.format(module=module)], cwd=ROOT,
                              capture_output=True, text=True, check=True, timeout=120)
        times.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def _first_token(proc: Proc, timeout: float = 60.0) -> float:
    """Seconds from spawn to the first `data` event of a `/stream` sent as soon as it listens."""
    deadline = time.monotonic() + timeout
    body = {"user_input": QUESTION, "thread_id": "cold-start"}
    with httpx.Client(timeout=timeout) as client:
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited:\n{proc.log()[-2000:]}")
            try:
                with connect_sse(client, "POST", proc.url + "/stream", json=body) as source:
                    for sse in source.iter_sse():
                        if sse.event == "data":
                            return time.monotonic() - proc.started_at
            except httpx.TransportError:
                time.sleep(0.01)  # not listening yet
                continue
            raise RuntimeError(f"{proc.name}: stream ended without a token")
    raise RuntimeError(f"{proc.name}: no token within {timeout} s")


def first_token_seconds(kind: str, model_url: str, work_dir: Path, repeats: int) -> float:
    """Median seconds from process start to first streamed token for `ours` or `baseline`."""
    times = []
    for _ in range(repeats):
        proc = start_server(kind, model_url, work_dir, wait=False)
        try:
            times.append(_first_token(proc))
        finally:
            stop(proc)
    return statistics.median(times)


def health_during_build(model_url: str, work_dir: Path, repeats: int) -> dict[str, float]:
    """`/health` latency (ms, max and median over every poll) while a fresh server of ours
    answers its first `/stream`, i.e. builds its bot: the event loop must not stall."""
    latencies: list[float] = []
    for _ in range(repeats):
        proc = start_server("ours", model_url, work_dir, wait=False)
        try:
            wait_ready(proc, "/health")
            first = threading.Thread(target=_first_token, args=(proc,))
            first.start()
            with httpx.Client(timeout=30.0) as client:
                while first.is_alive():
                    started = time.perf_counter()
                    client.get(proc.url + "/health").raise_for_status()
                    latencies.append(time.perf_counter() - started)
            first.join()
        finally:
            stop(proc)
    return {"health_during_build_max_ms": ms(max(latencies)),
            "health_during_build_p50_ms": ms(statistics.median(latencies)),
            "health_during_build_polls": len(latencies)}


def cold_start(model_url: str, work_dir: Path, size: Size) -> dict[str, Any]:
    """Both cold-start times for both servers (the model answers flat out meanwhile)."""
    return {
        "import_function_app_ms": ms(import_seconds("function_app", size.cold_repeats)),
        "import_baseline_ms": ms(import_seconds("bench.baseline.server", size.cold_repeats)),
        "ours_start_to_first_token_ms": ms(
            first_token_seconds("ours", model_url, work_dir, size.cold_repeats)),
        "baseline_start_to_first_token_ms": ms(
            first_token_seconds("baseline", model_url, work_dir, size.cold_repeats)),
        **health_during_build(model_url, work_dir, size.cold_repeats),
    }
