"""Fixtures of the thread-store tests: a Cosmos-protocol server per test module, a fresh
container per test, and helpers to build checkpoints and configs."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from azure.cosmos.aio import ContainerProxy, CosmosClient
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

from agent.memory.cosmos import CosmosSaver
from standins.cosmos import CosmosEndpoint, create_container, start_cosmos_server

MB = 1024 * 1024


@pytest.fixture(scope="module")
def cosmos() -> Iterator[CosmosEndpoint]:
    with start_cosmos_server() as endpoint:
        yield endpoint


@pytest.fixture
async def container(cosmos: CosmosEndpoint) -> AsyncIterator[ContainerProxy]:
    async with CosmosClient(cosmos.url, credential=cosmos.key) as client:
        yield await create_container(client, "tests", f"threads-{uuid.uuid4().hex[:8]}")
    cosmos.fail_items()  # no injected fault outlives its test


def saver_for(container: ContainerProxy, *, ttl: int = 3600, max_bytes: int = 16 * MB) -> Any:
    return CosmosSaver(container, ttl_seconds=ttl, max_bytes=max_bytes)


def config(thread_id: str, ns: str = "", checkpoint_id: str | None = None) -> Any:
    configurable: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ns}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


def checkpoint_with(values: dict[str, Any]) -> Any:
    checkpoint = empty_checkpoint()
    checkpoint["id"] = str(uuid6(clock_seq=-1))
    checkpoint["channel_values"] = values
    checkpoint["channel_versions"] = {k: 1 for k in values}
    return checkpoint


async def items_of(container: ContainerProxy, thread_id: str) -> list[dict[str, Any]]:
    return [
        item
        async for item in container.query_items(
            "SELECT * FROM c WHERE c.thread_id = @t",
            parameters=[{"name": "@t", "value": thread_id}],
            partition_key=thread_id,
        )
    ]


async def turns(saver: Any, thread_id: str, count: int, ns: str = "") -> list[Any]:
    """`count` chained checkpoints with one pending write each; their stored configs."""
    stored, parent = [], None
    for step in range(count):
        cfg = await saver.aput(config(thread_id, ns, parent), checkpoint_with({"turn": step}),
                               {"source": "loop", "step": step}, {})
        await saver.aput_writes(cfg, [("turn", step)], f"task-{step}")
        parent = cfg["configurable"]["checkpoint_id"]
        stored.append(cfg)
    return stored
