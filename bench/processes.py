"""The processes of a bench run: the model server and the three servers, each on its own.

Also reads a process's CPU time and peak RSS from `/proc` (no psutil needed).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from standins.processes import free_port, server_env

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "standins" / "corpus"
_TICKS = os.sysconf("SC_CLK_TCK")
STARTUP_SECONDS = 60.0


@dataclass
class Proc:
    """A running server process."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float  # time.monotonic() just before spawning

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def _status_kb(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) since start or the last `reset_peak_rss()`."""
        return self._status_kb("VmHWM") / 1024

    def reset_peak_rss(self) -> bool:
        """Reset VmHWM to the current RSS (Linux `clear_refs` 5); False if not allowed."""
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace")


def wait_ready(proc: Proc, path: str, timeout: float = STARTUP_SECONDS) -> float:
    """Poll `path` until it answers 200; seconds since spawn."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while True:
            if proc.process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited early:\n{proc.log()[-3000:]}")
            try:
                if client.get(proc.url + path).status_code == 200:
                    return time.monotonic() - proc.started_at
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{proc.name} did not start:\n{proc.log()[-3000:]}")
            time.sleep(0.02)  # polling for readiness


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path, port: int) -> Proc:
    """Start a process with this environment; its output goes to `log_dir/name.log`."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log_file:
        started = time.monotonic()
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log_file,
                                   stderr=subprocess.STDOUT)
    return Proc(name, f"http://127.0.0.1:{port}", process, log_path, started)


def stop(proc: Proc) -> None:
    """SIGTERM, then kill."""
    proc.process.terminate()
    try:
        proc.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.process.kill()
        proc.process.wait()


def app_env(model_url: str, data_dir: Path) -> dict[str, str]:
    """The settings every server runs with: Azure OpenAI (the v1 API, the app's default) at the
    model server with a key, the test corpus, a data dir."""
    env = server_env(data_dir, {
        "MODEL_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": model_url,
        "AZURE_OPENAI_API_KEY": "bench", "DOCS_DIR": str(CORPUS), "LOG_LEVEL": "WARNING",
        "MODEL_MAX_RETRIES": "0",
    })
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_model(log_dir: Path, ttft: float, rate: float, tokens: int) -> Proc:
    """The model server (`bench.model_server`), ready."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.model_server", "--port", str(port), "--ttft", str(ttft),
            "--tokens-per-second", str(rate), "--answer-tokens", str(tokens)]
    proc = spawn("model", argv, {**os.environ, "PYTHONPATH": str(ROOT)}, log_dir, port)
    wait_ready(proc, "/_bench/health")
    return proc


def server_argv(kind: str, port: int) -> tuple[list[str], dict[str, str]]:
    """How to start `ours` (`python -m api`), `baseline` (`bench.baseline.server`) or `floor`
    (`bench.floor.server`)."""
    if kind == "ours":
        return [sys.executable, "-m", "api"], {"HOST": "127.0.0.1", "PORT": str(port)}
    if kind not in ("baseline", "floor"):
        raise ValueError(f"no server kind {kind!r}")
    return [sys.executable, "-m", f"bench.{kind}.server", "--port", str(port)], {}


def start_server(kind: str, model_url: str, work_dir: Path, wait: bool = True) -> Proc:
    """Start one of the servers against the model server; ready if `wait`."""
    port = free_port()
    data_dir = work_dir / f"data-{kind}-{port}"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv, extra = server_argv(kind, port)
    proc = spawn(f"{kind}-{port}", argv, {**app_env(model_url, data_dir), **extra}, work_dir, port)
    if wait:
        wait_ready(proc, "/health")
    return proc


@contextmanager
def running(procs: list[Proc]) -> Iterator[list[Proc]]:
    """Stop these processes at exit, whatever happens."""
    try:
        yield procs
    finally:
        for proc in reversed(procs):
            stop(proc)
