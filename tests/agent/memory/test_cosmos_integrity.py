"""CosmosSaver keeps a thread whole: atomic pending writes, first value kept, chunks that can't
outlive their checkpoint's reader, deletes that never show an older turn, listing and filters
that match the reference savers. Against the Cosmos-protocol stand-in (`start.js` enforces TTL
and runs transactional batches all or nothing, as the service does)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.cosmos.aio import ContainerProxy
from langgraph.checkpoint.memory import InMemorySaver

from agent.memory.cosmos_items import CHUNK_CHARS
from standins.cosmos import CosmosEndpoint
from tests.agent.memory.conftest import (
    MB,
    checkpoint_with,
    config,
    items_of,
    saver_for,
    turns,
)


async def test_listing_across_threads_returns_every_thread(container: ContainerProxy) -> None:
    saver = saver_for(container)
    await turns(saver, "first", 2)
    await turns(saver, "second ✓", 1)

    listed = [t.config["configurable"] async for t in saver.alist(None)]

    assert sorted(c["thread_id"] for c in listed) == ["first", "first", "second ✓"]
    newest_first = [t.checkpoint["id"] async for t in saver.alist(None, limit=2)]
    assert len(newest_first) == 2 and newest_first == sorted(newest_first, reverse=True)


async def test_a_tasks_writes_are_all_saved_or_none(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    saver = saver_for(container)
    [cfg] = await turns(saver, "t", 1)
    cosmos.fail_items(".task-x.1")  # the service refuses the task's second write

    with pytest.raises(HttpResponseError):
        await saver.aput_writes(cfg, [("a", 1), ("b", 2), ("c", 3)], "task-x")

    loaded = await saver.aget_tuple(config("t"))
    assert loaded is not None
    assert [w for w in loaded.pending_writes or [] if w[0] == "task-x"] == []
    cosmos.fail_items()
    await saver.aput_writes(cfg, [("a", 1), ("b", 2), ("c", 3)], "task-x")
    loaded = await saver.aget_tuple(config("t"))
    assert loaded is not None
    assert [w for w in loaded.pending_writes or [] if w[0] == "task-x"] == [
        ("task-x", "a", 1), ("task-x", "b", 2), ("task-x", "c", 3)]


async def test_a_resaved_write_keeps_the_first_value_like_the_reference_saver(
    container: ContainerProxy,
) -> None:
    async def saved(saver: Any) -> list[Any]:
        cfg = await saver.aput(config("t"), checkpoint_with({"n": 1}), {"step": 0}, {})
        await saver.aput_writes(cfg, [("a", "first"), ("__error__", "first error")], "task")
        await saver.aput_writes(cfg, [("a", "second"), ("__error__", "second error")], "task")
        loaded = await saver.aget_tuple(config("t"))
        return list(loaded.pending_writes) if loaded else []

    reference = await saved(InMemorySaver())
    assert await saved(saver_for(container)) == reference
    # Ordinary writes keep the first value; LangGraph's special channels take the last.
    assert ("task", "a", "first") in reference
    assert ("task", "__error__", "second error") in reference


async def test_filter_on_none_matches_checkpoints_without_the_key(
    container: ContainerProxy,
) -> None:
    async def matches(saver: Any) -> list[int]:
        parent = None
        for step, extra in enumerate([{}, {"k": "x"}, {"k": None}, {"k": 0}]):
            cfg = await saver.aput(config("t", checkpoint_id=parent), checkpoint_with({"s": step}),
                                   {"step": step, **extra}, {})
            parent = cfg["configurable"]["checkpoint_id"]
        return [t.metadata["step"] async for t in saver.alist(config("t"), filter={"k": None})]

    reference = await matches(InMemorySaver())
    assert reference == [2, 0]
    assert await matches(saver_for(container)) == reference


async def test_chunks_outlive_their_checkpoint(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    saver = saver_for(container, ttl=100)
    values = {"random": os.urandom(3 * MB)}
    cosmos.advance_clock(0, tick_seconds=1)  # every request takes a second of server time
    try:
        await saver.aput(config("big"), checkpoint_with(values), {"step": 0}, {})
    finally:
        cosmos.advance_clock(0, tick_seconds=0)
    items = await items_of(container, "big")
    owner = next(i for i in items if i["kind"] == "checkpoint")
    chunks = [i for i in items if i["kind"] == "chunk"]
    assert len(chunks) >= 2 and all(len(c["data"]) <= CHUNK_CHARS for c in chunks)
    assert min(c["_ts"] for c in chunks) < owner["_ts"]  # chunks were written first

    # The last second of the checkpoint's life: it must read back whole.
    now = cosmos.advance_clock(0)
    cosmos.advance_clock(owner["_ts"] + owner["ttl"] - 1 - now)
    loaded = await saver.aget_tuple(config("big"))
    assert loaded is not None and loaded.checkpoint["channel_values"] == values

    cosmos.advance_clock(2)  # now the checkpoint has expired too: no thread, no error
    assert await saver.aget_tuple(config("big")) is None


async def test_a_missing_chunk_reads_as_no_thread(container: ContainerProxy) -> None:
    saver = saver_for(container)
    await saver.aput(config("big"), checkpoint_with({"r": os.urandom(3 * MB)}), {"step": 0}, {})
    chunk = next(i for i in await items_of(container, "big") if i["kind"] == "chunk")
    await container.delete_item(chunk["id"], partition_key="big")

    assert await saver.aget_tuple(config("big")) is None
    assert [t async for t in saver.alist(config("big"))] == []


async def test_an_interrupted_delete_never_shows_an_older_turn(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    saver = saver_for(container)
    for n in range(6):  # three checkpoints and three writes: the delete fails at each in turn
        thread = f"t{n}"
        await turns(saver, thread, 3)
        items = sorted(i["id"] for i in await items_of(container, thread))
        assert len(items) == 6
        cosmos.fail_items(items[n])
        with pytest.raises(HttpResponseError):
            await saver.adelete_thread(thread)
        cosmos.fail_items()

        seen = await saver.aget_tuple(config(thread))
        assert seen is None or seen.checkpoint["channel_values"] == {"turn": 2}, items[n]
        listed = [t.checkpoint["channel_values"]["turn"] async for t in saver.alist(config(thread))]
        assert listed[:1] in ([], [2]), (items[n], listed)
        # The thread stays usable, and deleting again finishes the job.
        await turns(saver, thread, 1)
        again = await saver.aget_tuple(config(thread))
        assert again is not None and again.checkpoint["channel_values"] == {"turn": 0}
        await saver.adelete_thread(thread)
        assert await saver.aget_tuple(config(thread)) is None
        assert await items_of(container, thread) == []


async def test_the_latest_read_returns_only_its_payload_and_writes_echo_nothing(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    saver = saver_for(container)
    before = cosmos.stats()
    parent = None
    for step in range(3):  # older checkpoints with 300 KB payloads each
        cfg = await saver.aput(config("t", checkpoint_id=parent),
                               checkpoint_with({"blob": os.urandom(300 * 1024), "n": step}),
                               {"step": step}, {})
        await saver.aput_writes(cfg, [("x", os.urandom(1024))], f"task-{step}")
        parent = cfg["configurable"]["checkpoint_id"]
    latest = await saver.aput(config("t", checkpoint_id=parent), checkpoint_with({"n": 3}),
                              {"step": 3}, {})
    written = cosmos.stats()
    # No write echoes its item back: upserts answer empty, batches with statuses and ETags only.
    writes = written["write_requests"] - before["write_requests"]
    echoed = written["write_response_bytes"] - before["write_response_bytes"]
    assert writes >= 7 and echoed < 100 * writes

    loaded = await saver.aget_tuple(config("t"))

    after = cosmos.stats()
    assert loaded is not None and loaded.config == latest
    assert after["requests"] - written["requests"] == 1
    assert after["bytes_read"] - written["bytes_read"] < 2048  # not a byte of the older ones
