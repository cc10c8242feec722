"""The thread-store modules the HTTP layer imports load nothing heavy (fresh interpreters)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("langgraph", "langchain_core", "azure", "aiosqlite", "pydantic", "cachetools")


@pytest.mark.parametrize(
    "module", ["agent.memory.leases", "agent.memory.runlog", "agent.memory.runlog_recorder"])
def test_module_imports_no_store_sdk_or_langgraph(module: str) -> None:
    code = (f"import sys, {module}\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"
