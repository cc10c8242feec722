"""Our dev server with one change: every turn runs with LangGraph `durability="exit"`.

The graph then checkpoints once when the turn ends instead of after every super-step (input,
supervisor, specialist, tools, specialist: five checkpoints per `@docsearch` turn). The
recommended diff is in `agent/bot.py`: pass `durability="exit"` to `graph.astream(...)` in
`Bot.events` and to `graph.ainvoke(...)` in `Bot.answer`.

    HOST=127.0.0.1 PORT=P python -m bench.prototype.durability_exit
"""

from __future__ import annotations

import functools
from typing import Any

import agent.bot as bot_module
from agent.settings import Settings

_build_bot = bot_module.build_bot


async def build_bot(settings: Settings) -> Any:
    """The usual bot, its graph's `astream` / `ainvoke` defaulting to `durability="exit"`."""
    bot = await _build_bot(settings)
    graph = bot.graph
    graph.astream = functools.partial(graph.astream, durability="exit")
    graph.ainvoke = functools.partial(graph.ainvoke, durability="exit")
    return bot


def main() -> None:
    """Patch, then run the dev server."""
    bot_module.build_bot = build_bot
    from api.devserver import main as serve

    serve()


if __name__ == "__main__":
    main()
