"""Threads expire in Cosmos DB by TTL, as a whole: the stand-in enforces item TTL on its own
clock, which the tests move (no waiting), together with the saver's clock."""

from __future__ import annotations

import time
from typing import Any

from azure.cosmos.aio import ContainerProxy
from langchain_core.messages import HumanMessage

from agent.memory.cosmos import CosmosSaver
from agent.memory.cosmos_expiry import REMEMBERED_CHECKPOINTS, ThreadExpiry
from standins.cosmos import CosmosEndpoint, build_chat_graph
from tests.agent.memory.conftest import items_of

TTL = 100  # seconds: items live 150, a thread at least 100 after its last turn


class Clock:
    """The saver's clock, moved with the stand-in's."""

    def __init__(self, cosmos: CosmosEndpoint) -> None:
        self.cosmos = cosmos
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.cosmos.advance_clock(seconds)


def chat(container: ContainerProxy, clock: Clock) -> tuple[CosmosSaver, Any]:
    saver = CosmosSaver(container, ttl_seconds=TTL, max_bytes=16 * 1024 * 1024,
                        keep_latest=True, clock=clock)
    return saver, build_chat_graph(saver)


async def turn(graph: Any, thread_id: str, text: str) -> None:
    await graph.ainvoke({"messages": [HumanMessage(text)]},
                        {"configurable": {"thread_id": thread_id}}, durability="exit")


async def said(graph: Any, thread_id: str) -> list[str]:
    state = await graph.aget_state({"configurable": {"thread_id": thread_id}})
    return [m.content for m in state.values.get("messages", [])]


async def test_an_idle_thread_expires_as_a_whole(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    clock = Clock(cosmos)
    saver, graph = chat(container, clock)
    for n in range(3):
        await turn(graph, "idle", f"question {n}")
    assert all(item["ttl"] == 150 for item in await items_of(container, "idle"))

    clock.advance(TTL)  # kept at least the TTL after the last turn
    assert len(await said(graph, "idle")) == 6

    clock.advance(36)  # its oldest item expires within the margin: the thread is gone
    assert await saver.aget_tuple({"configurable": {"thread_id": "idle"}}) is None
    assert await said(graph, "idle") == []

    clock.advance(15)  # and the service has removed every item
    assert await items_of(container, "idle") == []
    await turn(graph, "idle", "a new start")
    assert await said(graph, "idle") == ["a new start", "echo: a new start"]


async def test_an_active_thread_keeps_its_whole_history(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    clock = Clock(cosmos)
    _, graph = chat(container, clock)
    for n in range(12):  # a turn every 20 s for 240 s: longer than an item lives
        await turn(graph, "active", f"question {n}")
        clock.advance(20)

    assert await said(graph, "active") == [
        text for n in range(12) for text in (f"question {n}", f"echo: question {n}")]
    # The conversation was re-snapshotted as it aged; what it superseded was pruned, so
    # nothing stored is older than half the TTL plus a turn.
    items = await items_of(container, "active")
    now = cosmos.advance_clock(0)
    assert max(now - item["_ts"] for item in items) <= TTL / 2 + 20 + 1


def test_remembered_base_times_are_bounded_least_recently_used_first() -> None:
    expiry = ThreadExpiry(TTL)
    for n in range(REMEMBERED_CHECKPOINTS):
        expiry.remember("t", "", f"c{n:06d}", float(n))
    assert expiry.base_at.get(("t", "", "c000000")) == 0.0  # read: now the most recent
    expiry.remember("t", "", "new", 1.0)
    assert len(expiry.base_at) == REMEMBERED_CHECKPOINTS
    assert ("t", "", "c000001") not in expiry.base_at  # the least recently used went
    assert expiry.base_at.get(("t", "", "c000000")) == 0.0 and ("t", "", "new") in expiry.base_at
