"""The bot of this process: one per event loop, built on first use, closed at shutdown.

Building the bot imports LangGraph, LangChain and the SDKs, indexes the local docs and opens
the thread store: a second or more on a cold instance. `get_bot` imports `agent.bot` in a worker
thread and `agent.bot.build_bot` does its CPU-bound work in worker threads too, so while the bot
builds, the instance keeps answering `/health` and its other requests. This module itself
imports nothing heavy: the HTTP layer imports it at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import weakref
from typing import TYPE_CHECKING

from agent.settings import get_settings

if TYPE_CHECKING:
    from agent.bot import Bot

# One bot per event loop (its clients are bound to the loop), built by one task that callers
# share; dropped with the loop.
_builds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[Bot]] = (
    weakref.WeakKeyDictionary()
)


async def _build() -> Bot:
    module = await asyncio.to_thread(importlib.import_module, "agent.bot")
    bot: Bot = await module.build_bot(get_settings())
    # Everything alive now (modules, schemas, the graph, clients) lives as long as the process:
    # move it out of the garbage collector's sight, so a full collection no longer walks it
    # (about 150 ms of CPU, every few seconds under load, stalling every stream).
    gc.freeze()
    return bot


def _failed(task: asyncio.Task[Bot]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)


async def get_bot() -> Bot:
    """The process's bot for the running event loop, built on first use.

    The build runs in its own task: a first request that gives up (its client left, its
    deadline passed) does not cancel it, so the next request finds the bot built. A build that
    failed is tried again by the next request.
    """
    loop = asyncio.get_running_loop()
    task = _builds.get(loop)
    if task is None or _failed(task):
        task = loop.create_task(_build(), name="build-bot")
        _builds[loop] = task
    return await asyncio.shield(task)


async def close_bot() -> None:
    """Close the running loop's bot (server shutdown); a build under way is stopped."""
    task = _builds.pop(asyncio.get_running_loop(), None)
    if task is None:
        return
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        await task
    if not _failed(task):
        await task.result().aclose()
