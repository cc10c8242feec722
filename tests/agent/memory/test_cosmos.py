"""CosmosSaver against a real Cosmos-protocol server on loopback (`@vercel/cosmosdb-server`)."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest
from azure.cosmos.aio import ContainerProxy
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import START, StateGraph
from langgraph.types import Command, interrupt
from pydantic import SecretStr
from typing_extensions import TypedDict

from agent.memory.cosmos import CheckpointTooLargeError, CosmosSaver
from agent.memory.cosmos_items import CHUNK_CHARS, chunk_ttl
from agent.memory.cosmos_queries import LATEST_PAGE_SIZE
from agent.settings import Settings
from standins.cosmos import CosmosEndpoint, measure_requests_per_turn
from tests.agent.memory.conftest import MB, checkpoint_with, config, items_of, saver_for


async def test_retried_aput_is_idempotent(container: ContainerProxy) -> None:
    saver = saver_for(container)
    checkpoint = checkpoint_with({"a": 1})
    first = await saver.aput(config("t"), checkpoint, {"source": "input", "step": 0}, {})
    second = await saver.aput(config("t"), checkpoint, {"source": "input", "step": 0}, {})
    await saver.aput_writes(first, [("a", 2)], "task")
    await saver.aput_writes(first, [("a", 2)], "task")

    assert first == second
    listed = [t async for t in saver.alist(config("t"))]
    assert [t.checkpoint["id"] for t in listed] == [checkpoint["id"]]
    assert listed[0].pending_writes == [("task", "a", 2)]


async def test_namespaces_are_kept_apart(container: ContainerProxy) -> None:
    saver = saver_for(container)
    root = checkpoint_with({"where": "root"})
    await saver.aput(config("t", ""), root, {"step": 0}, {})
    child = checkpoint_with({"where": "child"})
    await saver.aput(config("t", "child:1"), child, {"step": 0}, {})

    root_tuple = await saver.aget_tuple(config("t", ""))
    child_tuple = await saver.aget_tuple(config("t", "child:1"))

    assert root_tuple and root_tuple.checkpoint["channel_values"] == {"where": "root"}
    assert child_tuple and child_tuple.checkpoint["channel_values"] == {"where": "child"}
    assert child_tuple.config["configurable"]["checkpoint_ns"] == "child:1"


class Approval(TypedDict, total=False):
    request: str
    answer: str


async def test_interrupt_and_resume_through_a_graph(container: ContainerProxy) -> None:
    async def ask(state: Approval) -> Approval:
        return {"answer": interrupt({"question": f"approve {state['request']}?"})}

    def build(saver: CosmosSaver) -> Any:
        graph = StateGraph(Approval)
        graph.add_node("ask", ask)
        graph.add_edge(START, "ask")
        return graph.compile(checkpointer=saver)

    run = {"configurable": {"thread_id": "approval"}}
    paused = await build(saver_for(container)).ainvoke({"request": "deploy"}, run)
    assert paused["__interrupt__"][0].value == {"question": "approve deploy?"}

    # A new saver (as after a process restart) finds the pending interrupt and resumes.
    resumed = await build(saver_for(container)).ainvoke(Command(resume="yes"), run)
    assert resumed == {"request": "deploy", "answer": "yes"}


@pytest.mark.parametrize("ttl", [3600, -1])
async def test_every_item_carries_the_thread_ttl(container: ContainerProxy, ttl: int) -> None:
    saver = saver_for(container, ttl=ttl)
    stored = await saver.aput(
        config("t"), checkpoint_with({"blob": os.urandom(3 * MB)}), {"step": 0}, {}
    )
    await saver.aput_writes(stored, [("x", 1), ("y", "two")], "task")

    items = await items_of(container, "t")
    assert {item["kind"] for item in items} == {"checkpoint", "write", "chunk"}
    # Items live 1.5 x the thread TTL (a thread is kept at least the TTL after its last turn);
    # chunks are written first and outlive their owner, so a reader never finds one missing.
    item_ttl = -1 if ttl == -1 else 5400
    assert saver.item_ttl == item_ttl
    assert all(item["ttl"] == (chunk_ttl(item_ttl) if item["kind"] == "chunk" else item_ttl)
               for item in items)
    assert (await container.read())["defaultTtl"] == -1


def test_ttl_must_be_positive_or_minus_one(container: ContainerProxy) -> None:
    with pytest.raises(ValueError, match="ttl_seconds"):
        saver_for(container, ttl=0)


async def test_large_checkpoint_is_split_and_read_back_identically(
    container: ContainerProxy,
) -> None:
    saver = saver_for(container)
    values = {"random": os.urandom(5 * MB), "text": "repetitive text " * 400_000}
    checkpoint = checkpoint_with(values)
    await saver.aput(config("big"), checkpoint, {"step": 0}, {})

    loaded = await saver.aget_tuple(config("big"))
    assert loaded is not None
    assert loaded.checkpoint["channel_values"] == values
    items = await items_of(container, "big")
    chunks = [item for item in items if item["kind"] == "chunk"]
    # 5 MB of random bytes do not compress: base64 is ~6.7 MB, split in chunk items, each far
    # below the server's (real) 2 MB limit.
    assert len(chunks) >= 4
    assert all(len(chunk["data"]) <= CHUNK_CHARS for chunk in chunks)


async def test_compressible_checkpoint_stays_in_one_item(container: ContainerProxy) -> None:
    saver = saver_for(container)
    values = {"text": "the same sentence again. " * 200_000}  # 5 MB, compresses to a few KB
    await saver.aput(config("zip"), checkpoint_with(values), {"step": 0}, {})

    items = await items_of(container, "zip")
    assert [(item["kind"], item["enc"], item["chunks"]) for item in items] == [
        ("checkpoint", "zlib", 0)
    ]
    loaded = await saver.aget_tuple(config("zip"))
    assert loaded is not None and loaded.checkpoint["channel_values"] == values


async def test_over_the_limit_fails_plainly_and_writes_nothing(container: ContainerProxy) -> None:
    saver = saver_for(container, max_bytes=64 * 1024)
    with pytest.raises(CheckpointTooLargeError, match="CHECKPOINT_MAX_BYTES") as raised:
        await saver.aput(config("t"), checkpoint_with({"b": os.urandom(MB)}), {"step": 0}, {})

    assert "65536 bytes" in str(raised.value)
    assert await items_of(container, "t") == []


async def test_delete_thread_removes_every_item_of_the_thread(container: ContainerProxy) -> None:
    saver = saver_for(container)
    for thread in ("doomed", "kept"):
        parent = None
        for step in range(3):
            cfg = config(thread, checkpoint_id=parent)
            stored = await saver.aput(cfg, checkpoint_with({"s": step}), {"step": step}, {})
            await saver.aput_writes(stored, [("s", step)], f"task-{step}")
            parent = stored["configurable"]["checkpoint_id"]
        big = checkpoint_with({"b": os.urandom(2 * MB)})
        await saver.aput(config(thread, "sub:1"), big, {}, {})

    assert len(await items_of(container, "doomed")) > 8
    await saver.adelete_thread("doomed")
    await saver.adelete_thread("never-existed")

    assert await items_of(container, "doomed") == []
    assert len(await items_of(container, "kept")) > 8
    assert await saver.aget_tuple(config("doomed")) is None


async def test_alist_filters_before_and_limit(container: ContainerProxy) -> None:
    saver = saver_for(container)
    ids, parent = [], None
    for step in range(5):
        stored = await saver.aput(
            config("t", checkpoint_id=parent),
            checkpoint_with({"s": step}),
            {"source": "loop" if step % 2 else "input", "step": step, "tags": ["x"]},
            {},
        )
        parent = stored["configurable"]["checkpoint_id"]
        ids.append(parent)

    loops = [t.checkpoint["id"] async for t in saver.alist(config("t"), filter={"source": "loop"})]
    page = [t.checkpoint["id"] async for t in saver.alist(
        config("t"), before=config("t", checkpoint_id=ids[3]), limit=2
    )]
    by_list = [t.checkpoint["id"] async for t in saver.alist(config("t"), filter={"tags": ["x"]})]

    assert loops == [ids[3], ids[1]]
    assert page == [ids[2], ids[1]]
    assert by_list == list(reversed(ids))


async def test_requests_per_turn_are_the_same_at_turn_2_and_turn_100(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    counts = await measure_requests_per_turn(cosmos, container, measure_at=(1, 2, 100))

    # Reads: the latest checkpoint, then the conversation's history (the namespace's checkpoint
    # ids, then the message writes). Writes: the turn's three checkpoints and two batches of
    # pending writes (`__start__`, the node). Turn 1 has no history to read.
    assert counts[2] == counts[100] == 8
    assert counts[1] < counts[2]


async def test_fewer_requests_per_turn_with_the_apps_durability(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    # CHECKPOINT_DURABILITY=exit (the app's default): the same three reads, the turn's new
    # messages in two batches and one checkpoint; the same at turn 2 and turn 100.
    counts = await measure_requests_per_turn(cosmos, container, measure_at=(1, 2, 100),
                                             thread_id="exit-durability", durability="exit")
    assert counts[2] == counts[100] == 6


async def test_latest_checkpoint_is_one_request_and_one_page(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    saver = saver_for(container)
    parent = None
    for step in range(30):
        stored = await saver.aput(
            config("long", checkpoint_id=parent), checkpoint_with({"s": step}), {"step": step}, {}
        )
        await saver.aput_writes(stored, [("s", step)], f"task-{step}")
        parent = stored["configurable"]["checkpoint_id"]
    final = await saver.aput(config("long", checkpoint_id=parent), checkpoint_with({"s": 30}),
                             {"step": 30}, {})

    before = cosmos.request_count()
    latest = await saver.aget_tuple(config("long"))
    given = await saver.aget_tuple(config("long", checkpoint_id=parent))

    # The latest: one query, first page only; a given one: one query and a point read of the
    # thread's tombstone.
    assert cosmos.request_count() - before == 3
    assert latest and latest.config == final and latest.pending_writes == []
    assert given and given.checkpoint["channel_values"] == {"s": 29}
    assert given.pending_writes == [("task-29", "s", 29)]


async def test_latest_checkpoint_with_more_writes_than_a_page(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    saver = saver_for(container)
    first = await saver.aput(config("w"), checkpoint_with({"n": 0}), {"step": 0}, {})
    await saver.aput_writes(first, [("old", 1)], "earlier-task")
    latest = await saver.aput(config("w", checkpoint_id=first["configurable"]["checkpoint_id"]),
                              checkpoint_with({"n": 1}), {"step": 1}, {})
    await saver.aput_writes(latest, [("a", 1), ("b", 2), ("c", 3)], "task-2")
    await saver.aput_writes(latest, [("d", 4), ("e", 5)], "task-1")
    # Writes of a checkpoint that was never saved (newer id) are not mistaken for the latest.
    orphan = config("w", checkpoint_id=str(uuid6(clock_seq=-1)))
    await saver.aput_writes(orphan, [("stray", 0)], "lost-task")

    before = cosmos.request_count()
    loaded = await saver.aget_tuple(config("w"))

    assert loaded is not None and loaded.config == latest
    assert loaded.pending_writes == [
        ("task-1", "d", 4), ("task-1", "e", 5),
        ("task-2", "a", 1), ("task-2", "b", 2), ("task-2", "c", 3),
    ]
    # Rows read, newest first: the orphan write, the five writes, then the checkpoint itself;
    # nothing of the older checkpoint.
    assert cosmos.request_count() - before == math.ceil((1 + 5 + 1) / LATEST_PAGE_SIZE)


def test_sync_api_points_to_the_async_one(container: ContainerProxy) -> None:
    saver = saver_for(container)
    with pytest.raises(NotImplementedError, match="aget_tuple"):
        saver.get_tuple(config("t"))
    with pytest.raises(NotImplementedError, match="aput"):
        saver.put(config("t"), checkpoint_with({}), {}, {})


async def test_from_settings_creates_the_container_and_round_trips(
    cosmos: CosmosEndpoint,
) -> None:
    settings = Settings(
        azure_cosmosdb_endpoint=cosmos.url,
        azure_cosmosdb_key=SecretStr(cosmos.key),
        azure_cosmosdb_database="fromsettings",
        azure_cosmosdb_container="threads",
        azure_cosmosdb_create_if_missing=True,
        thread_ttl_seconds=600,
    )
    async with CosmosSaver.from_settings(settings) as saver:
        await saver.aput(config("s"), checkpoint_with({"k": "v"}), {"step": 0}, {})
        properties = await saver.container.read()
        assert properties["partitionKey"]["paths"] == ["/thread_id"]
    async with CosmosSaver.from_settings(
        settings.model_copy(update={"azure_cosmosdb_create_if_missing": False})
    ) as saver:
        loaded = await saver.aget_tuple(config("s"))
        assert loaded is not None and loaded.checkpoint["channel_values"] == {"k": "v"}
        assert saver.ttl == 600
