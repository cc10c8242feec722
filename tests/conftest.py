"""Shared fixtures: an isolated offline dev server on the test corpus, and settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from standins.processes import LiveServer, live_server

CORPUS = Path(__file__).resolve().parent.parent / "standins" / "corpus"


@pytest.fixture(scope="session")
def offline_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The dev server on embedded defaults (offline model, SQLite, local index of CORPUS)."""
    data_dir = tmp_path_factory.mktemp("offline-server")
    with live_server(data_dir, {"DOCS_DIR": str(CORPUS), "MODEL_PROVIDER": "offline"}) as server:
        yield server
