"""What a tool module builds: its tools, and what must be closed when the bot is.

Each specialist's module has `build_tools(settings) -> Toolset`. `closers` are the async
callables that release what the tools hold for the life of the process (a database engine and
its query threads, search clients and their credential); the bot awaits each once when it
closes, in reverse order of building. A module with nothing to close leaves them empty.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from langchain_core.tools import BaseTool

Closer = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Toolset:
    """The tools of one specialist and the closers of what they hold."""

    tools: tuple[BaseTool, ...] = ()
    closers: tuple[Closer, ...] = ()
