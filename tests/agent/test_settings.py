"""Settings refuse at start-up what the code would refuse later (one place reads them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.settings import Settings
from standins.processes import ROOT, server_env


@pytest.mark.parametrize("value", [-1, 1, 2592000])
def test_thread_ttl_takes_never_or_seconds(value: int) -> None:
    assert Settings(thread_ttl_seconds=value).thread_ttl_seconds == value


@pytest.mark.parametrize("value", [0, -2])
def test_a_thread_ttl_of_zero_or_below_never_is_refused(value: int) -> None:
    with pytest.raises(ValidationError, match="thread_ttl_seconds"):
        Settings(thread_ttl_seconds=value)


def test_the_dev_server_refuses_to_start_on_a_bad_setting(tmp_path: Path) -> None:
    env = server_env(tmp_path, {"THREAD_TTL_SECONDS": "0", "PORT": "1"})
    done = subprocess.run([sys.executable, "-m", "api"], cwd=ROOT, env=env, timeout=60,
                          capture_output=True, text=True)
    assert done.returncode != 0
    assert "thread_ttl_seconds" in done.stderr and "must be -1" in done.stderr
