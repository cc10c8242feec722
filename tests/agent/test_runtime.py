"""The process's bot: built once per event loop, on first use, without stalling the loop.

A fresh interpreter (a subprocess: in this one LangChain is imported already) watches every
import: none of LangGraph, LangChain, the OpenAI SDK, SQL or HTTP libraries may be imported on
the event loop's thread while the bot builds or while its first turns run. Imports are what a
cold instance spends its first second on; done on the loop, they would stall `/health` and every
other request meanwhile. The figure in milliseconds is measured by `make bench` (cold start),
not asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.settings import Settings
from standins.model_service import fake_openai
from standins.processes import ROOT, server_env
from tests.conftest import CORPUS

PROBE = r"""
import asyncio, json, sys, threading

HEAVY = {"langgraph", "langchain_core", "langchain_openai", "openai", "sqlglot", "sqlalchemy",
         "aiosqlite", "azure", "httpx", "httpx2", "tiktoken", "aiohttp"}
state = {"recording": False, "on_loop": []}


class Spy:
    def find_spec(self, name, path=None, target=None):
        if (state["recording"] and name.split(".")[0] in HEAVY
                and threading.current_thread() is threading.main_thread()):
            state["on_loop"].append(name)
        return None


sys.meta_path.insert(0, Spy())


async def main():
    import api.handlers  # what the server has imported before its first request
    from agent.runtime import close_bot, get_bot
    from agent.turns import TurnRequest

    state["recording"] = True
    first, second = await asyncio.gather(get_bot(), get_bot())
    built = list(state["on_loop"])
    await first.answer(TurnRequest("t", "r1", "@docsearch how far is the Moon?"))
    async for _ in first.run(TurnRequest("t", "r2", "@docsearch and the tides?")):
        pass
    state["recording"] = False
    await close_bot()
    print(json.dumps({"same": first is second, "build": built,
                      "turns": state["on_loop"][len(built):]}))


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def model_url() -> Iterator[str]:
    default = Settings.model_fields["azure_openai_chat_deployment"].default
    with fake_openai(deployments={default: "reasoning"}, api_keys={"k"}) as (_, url):
        yield url


@pytest.mark.parametrize("provider", ["offline", "azure"])
def test_the_bot_is_built_once_and_nothing_heavy_is_imported_on_the_loop(
    tmp_path: Path, model_url: str, provider: str,
) -> None:
    env = {"MODEL_PROVIDER": provider, "DOCS_DIR": str(CORPUS)}
    if provider == "azure":
        env.update({"AZURE_OPENAI_ENDPOINT": model_url, "AZURE_OPENAI_API_KEY": "k"})
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT,
                          env={**server_env(tmp_path, env), "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["same"], "two first requests built two bots"
    assert result["build"] == [], "imported on the event loop while building the bot"
    assert result["turns"] == [], "imported on the event loop during the first turns"
