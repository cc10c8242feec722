"""`local.settings.json.example` lists every setting the app reads (for `func start`)."""

from __future__ import annotations

import json
from pathlib import Path

from agent.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEV_SERVER_ONLY = {"HOST", "PORT", "LOG_LEVEL"}  # `func start` doesn't use the dev server


def test_example_lists_every_setting_and_enables_indexing() -> None:
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert values["PYTHON_ENABLE_INIT_INDEXING"] == "1"
    names = {name.upper() for name in Settings.model_fields}
    assert names - DEV_SERVER_ONLY == set(values) - {
        "FUNCTIONS_WORKER_RUNTIME", "PYTHON_ENABLE_INIT_INDEXING", "AzureWebJobsStorage"}


def test_example_values_are_valid_settings() -> None:
    values = json.loads((ROOT / "local.settings.json.example").read_text())["Values"]
    settings = Settings.model_validate({k.lower(): v for k, v in values.items()
                                        if k.lower() in Settings.model_fields and v != ""})
    assert settings.provider == "offline" and settings.thread_store == "sqlite"
