"""The bot: the compiled graph with its model, tools and checkpointer, and what callers do
with it (answer, stream, read or delete a thread).

`build_bot` builds one; `agent.runtime.get_bot()` keeps one per process and event loop, built
on first use. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import importlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agent.events import Answer, BotEvent, ThreadMessage, Token, ToolEvent
from agent.models.streamed_reply import SINK_KEY, TokenSink
from agent.settings import Settings
from agent.specialists import Specialist

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

_ROLES: dict[str, Any] = {"human": "user", "ai": "assistant", "tool": "tool", "system": "system"}


def _config(thread_id: str, run_id: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id}}
    if run_id:
        config["run_id"] = run_id
    return config


class Bot:
    """The agent, ready to serve turns on conversation threads."""

    def __init__(self, settings: Settings, graph: Any, specialists: set[str],
                 stack: AsyncExitStack) -> None:
        self.settings = settings
        self.graph = graph
        self.specialists = specialists
        self._stack = stack
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _lock(self, thread_id: str) -> asyncio.Lock:
        """Turns on one thread run one at a time in this process."""
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[thread_id] = lock
        return lock

    async def answer(self, question: str, thread_id: str, run_id: str) -> Answer:
        """Run one turn to completion."""
        async with self._lock(thread_id):
            state = await self.graph.ainvoke(
                {"messages": [HumanMessage(question)]}, _config(thread_id, run_id),
                durability=self.settings.checkpoint_durability,
            )
        last = state["messages"][-1]
        return Answer(text=last.text, agent=getattr(last, "name", None) or "")

    async def events(self, question: str, thread_id: str, run_id: str,
                     on_token: TokenSink | None = None) -> AsyncIterator[BotEvent]:
        """Run one turn, yielding answer tokens and tool events, then the `Answer`. With
        `on_token`, each token goes to it as it arrives instead of being yielded (straight to
        the caller's queue, not through LangGraph's stream)."""
        final: AIMessage | None = None
        emitted: list[str] = []
        config = _config(thread_id, run_id)
        if on_token is not None:
            def sink(text: str) -> None:
                emitted.append(text)
                on_token(text)

            config["configurable"][SINK_KEY] = sink
        async with self._lock(thread_id):
            async for mode, payload in self.graph.astream(
                {"messages": [HumanMessage(question)]},
                config,
                # Specialists send their tokens on themselves (agent.models.streamed_reply):
                # no "messages" mode, so no callback handler per token.
                stream_mode=["custom", "updates"],
                durability=self.settings.checkpoint_durability,
            ):
                if mode == "custom":
                    if isinstance(payload, Token):
                        emitted.append(payload.text)
                        yield payload
                    elif isinstance(payload, dict) and "kind" in payload:
                        yield ToolEvent(**payload)
                elif mode == "updates":
                    final = _final_message(payload) or final
        # `end` carries exactly what was streamed (with a real model that includes any text it
        # wrote beside a tool call); a node that didn't stream (unavailable) is sent whole.
        text = "".join(emitted)
        if not emitted and final is not None and final.text:
            text = final.text
            yield Token(text)
        yield Answer(text=text, agent=(final.name or "") if final is not None else "")

    async def thread_messages(self, thread_id: str) -> list[ThreadMessage] | None:
        """The stored messages of a thread, or None if there is no such thread."""
        state = await self.graph.aget_state(_config(thread_id))
        messages: list[BaseMessage] = state.values.get("messages", []) if state.values else []
        if not messages:
            return None
        return [
            ThreadMessage(role=_ROLES.get(m.type, "system"), content=m.text,
                          agent=getattr(m, "name", None))
            for m in messages
        ]

    async def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and pending write of a thread."""
        async with self._lock(thread_id):
            await self.graph.checkpointer.adelete_thread(thread_id)

    async def aclose(self) -> None:
        """Close the checkpointer and clients."""
        await self._stack.aclose()


def _final_message(update: Any) -> AIMessage | None:
    """The answer in a node's update: an AI message that calls no tool."""
    if not isinstance(update, dict):
        return None
    found: AIMessage | None = None
    for node_update in update.values():
        if isinstance(node_update, dict):
            for message in node_update.get("messages", []) or []:
                if isinstance(message, AIMessage) and not message.tool_calls:
                    found = message
    return found


def _tool_closers(specialists: Iterable[Specialist]) -> list[Callable[[], Awaitable[None]]]:
    """Each distinct `aclose` the specialists' tools carry in their metadata."""
    closers: dict[int, Callable[[], Awaitable[None]]] = {}
    for specialist in specialists:
        for tool in specialist.tools:
            close = (tool.metadata or {}).get("aclose")
            if callable(close):
                closers.setdefault(id(getattr(close, "__self__", close)), close)
    return list(closers.values())


# What LangChain imports lazily on a graph's first run; imported with the bot instead.
_IMPORTED_ON_FIRST_RUN = (
    "langchain_core.tracers.context",
    "langchain_core.tracers.run_collector",
    "langchain_core.tracers.stdout",
    "langchain_core.messages.block_translators.langchain_v0",
)


def _model_and_specialists(
    settings: Settings, model_closers: list[Callable[[], Awaitable[None]]]
) -> tuple[BaseChatModel, dict[str, Specialist]]:
    """The imports and CPU-bound parts of building the bot (run in a worker thread)."""
    from agent.models.factory import build_chat_model
    from agent.tools.registry import build_specialists

    # Imported here, off the event loop, for the steps that run on it.
    store = "agent.memory.cosmos" if settings.thread_store == "cosmos" else (
        "langgraph.checkpoint.sqlite.aio")
    for module in ("agent.graph", "agent.memory", store, *_IMPORTED_ON_FIRST_RUN):
        importlib.import_module(module)
    specialists = build_specialists(settings)
    return build_chat_model(settings, model_closers), specialists


async def build_bot(settings: Settings) -> Bot:
    """Build the model, the specialists' tools, the checkpointer and the graph.

    Imports and CPU-bound work (LangGraph, LangChain and the SDKs, the local docs index,
    compiling the graph) run in worker threads, so the event loop keeps serving meanwhile; only
    opening the checkpointer, whose clients belong to the loop, runs on it.
    """
    stack = AsyncExitStack()
    try:
        model_closers: list[Callable[[], Awaitable[None]]] = []
        model, specialists = await asyncio.to_thread(_model_and_specialists, settings,
                                                     model_closers)
        from agent.graph import build_graph  # already imported, off the loop
        from agent.memory import open_checkpointer

        for close in [*_tool_closers(specialists.values()), *model_closers]:
            stack.push_async_callback(close)
        checkpointer = await stack.enter_async_context(open_checkpointer(settings))
        graph = await asyncio.to_thread(build_graph, model, specialists, checkpointer,
                                        settings.tool_preview_chars)
    except BaseException:
        await stack.aclose()
        raise
    enabled = {name for name, s in specialists.items() if s.enabled}
    return Bot(settings, graph, enabled, stack)
