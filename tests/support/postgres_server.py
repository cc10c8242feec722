"""A real PostgreSQL server for tests: `initdb` + `postgres` on a free loopback port.

    with postgres_server() as url:   # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        ...

The binaries are Debian's `postgresql` package (`.ci/run` installs it when missing); PostgreSQL
refuses to run as root, so as root the server runs as the `postgres` user. Trust
authentication on 127.0.0.1 only; the data folder is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from standins.processes import free_port

STARTUP_SECONDS = 30.0


def postgres_bin_dir() -> Path | None:
    """Where `initdb` and `postgres` are, or None if PostgreSQL isn't installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _as_user() -> list[str]:
    """The command prefix that runs PostgreSQL as a non-root user."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Run a throwaway PostgreSQL server; yield its SQLAlchemy URL (superuser `postgres`)."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="pg-test-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    port = free_port()
    log = root / "server.log"
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run([*_as_user(), str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
                       check=True, capture_output=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*_as_user(), str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}",
                 "-c", "fsync=off", "-c", "max_connections=20"],
                stdout=out, stderr=subprocess.STDOUT)
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        _wait_until_ready(port, process, log)
        yield url
    finally:
        if process is not None:
            process.terminate()  # "smart" shutdown; then fast
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited:\n{log.read_text(errors='replace')}")
        try:
            with psycopg.connect(host="127.0.0.1", port=port, user="postgres",
                                 dbname="postgres", connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                output = log.read_text(errors="replace")
                raise RuntimeError(f"postgres did not start:\n{output}") from None
            time.sleep(0.05)  # polling for readiness
