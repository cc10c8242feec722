"""The requests the Cosmos DB thread store makes, one thread's partition at a time.

`ContainerRequests` wraps the threads container: queries that name the thread's partition key
(or none, for a cross-partition listing), point reads that treat a missing item as None, writes
that don't echo the item back (`no_response`), bounded concurrency for many small requests, and
the two transactional-batch patterns of the store: a task's writes saved all or none, where a
create that finds its item already there keeps the first value (`write_batch`), and deletes in
batches of up to 100 (`delete_items`). It knows nothing of checkpoints or serialization.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import suppress
from typing import Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError

from agent.memory.cosmos_items import Item
from agent.memory.cosmos_queries import FULL_PAGE_SIZE, Query

# At most this many requests of one operation in flight at once.
CONCURRENCY = 16
# A transactional batch holds at most 100 operations and 2 MB.
BATCH_OPERATIONS = 100

Items = list[Item]
# ("create" | "upsert", item) pairs of one partition.
Operations = list[tuple[str, Item]]


class ContainerRequests:
    """Reads, queries and writes on one container, each within one thread's partition."""

    def __init__(self, container: ContainerProxy) -> None:
        self.container = container

    def rows(self, partition: str | None, query: Query, page_size: int
             ) -> AsyncIterator[Item]:
        """Rows of `query` in one thread's partition (`partition=None`: across all threads;
        the async SDK runs a query without a partition key across partitions)."""
        text, params = query
        parameters = [{"name": f"@{k}", "value": v} for k, v in params.items()]
        if partition is None:
            return self.container.query_items(text, parameters=parameters,
                                              max_item_count=page_size)
        return self.container.query_items(
            text, parameters=parameters, partition_key=partition, max_item_count=page_size
        )

    async def all(self, partition: str | None, query: Query) -> Items:
        """Every row of `query`, in pages of `FULL_PAGE_SIZE`."""
        return [dict(row) async for row in self.rows(partition, query, FULL_PAGE_SIZE)]

    async def gather(self, calls: Sequence[Awaitable[Any]]) -> Sequence[Any]:
        """Await `calls` with at most `CONCURRENCY` in flight; results in order."""
        gate = asyncio.Semaphore(CONCURRENCY)

        async def run(call: Awaitable[Any]) -> Any:
            async with gate:
                return await call

        return await asyncio.gather(*(run(c) for c in calls))

    async def upsert(self, item: Item) -> None:
        await self.container.upsert_item(item, no_response=True)

    async def upsert_all(self, items: Sequence[Item]) -> None:
        await self.gather([self.container.upsert_item(i, no_response=True) for i in items])

    async def read(self, item_id: str, thread_id: str) -> Item | None:
        """A point read; None when the item is missing (or expired)."""
        try:
            return dict(await self.container.read_item(item_id, partition_key=thread_id))
        except CosmosResourceNotFoundError:
            return None

    async def delete(self, item_id: str, thread_id: str) -> None:
        """Delete one item; a missing one counts as deleted."""
        with suppress(CosmosResourceNotFoundError):
            await self.container.delete_item(item_id, partition_key=thread_id)

    async def delete_items(self, thread_id: str, item_ids: Sequence[str]) -> None:
        """Delete items of one partition: transactional batches of up to 100 deletes (one by one
        where a batch fails because an item is gone already)."""
        for start in range(0, len(item_ids), BATCH_OPERATIONS):
            part = item_ids[start:start + BATCH_OPERATIONS]
            try:
                await self.container.execute_item_batch(
                    [("delete", (item_id,)) for item_id in part], partition_key=thread_id)
            except CosmosBatchOperationError as exc:
                if exc.status_code != 404:
                    raise
                await self.gather([self.delete(item_id, thread_id) for item_id in part])

    async def write_batches(self, thread_id: str, operations: Operations) -> None:
        """`write_batch` over `operations`, at most 100 at a time."""
        for start in range(0, len(operations), BATCH_OPERATIONS):
            await self.write_batch(thread_id, operations[start:start + BATCH_OPERATIONS])

    async def write_batch(self, thread_id: str, operations: Operations) -> None:
        """Run creates and upserts as one transactional batch; creates of items that exist
        already are dropped (the first value stays) and the rest run again."""
        try:
            await self.container.execute_item_batch(
                [(op, (item,)) for op, item in operations], partition_key=thread_id,
                no_response=True)
            return
        except CosmosBatchOperationError as exc:
            if exc.status_code != 409:
                raise
        ids = [item["id"] for op, item in operations if op == "create"]
        existing = {r["id"] for r in await self.all(thread_id, (
            "SELECT c.id FROM c WHERE c.thread_id = @t AND ARRAY_CONTAINS(@ids, c.id)",
            {"t": thread_id, "ids": ids}))}
        rest = [(op, item) for op, item in operations
                if not (op == "create" and item["id"] in existing)]
        if rest:
            await self.container.execute_item_batch(
                [(op, (item,)) for op, item in rest], partition_key=thread_id,
                no_response=True)
