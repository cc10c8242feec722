"""LangGraph checkpointer on Azure Cosmos DB for NoSQL (async only).

All items of a thread share the partition key `/thread_id`, so every read, query and delete
stays in one logical partition. Loading a thread's latest state is one query: the newest
checkpoint of the namespace and its pending writes, ordered by `checkpoint_id` and read only
until the first row of an older checkpoint (`agent.memory.cosmos_queries`), so it costs the
same at turn 1 and at turn 500. Writes are upserts (idempotent), every item carries the thread
TTL, and large payloads are compressed and split into chunk items (`agent.memory.cosmos_items`).
Throttling (429) and unavailability (503) are retried by the SDK. See docs/memory-cosmos.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from agent.memory import cosmos_queries as queries
from agent.memory.cosmos_account import INDEXING_POLICY, open_container
from agent.memory.cosmos_items import (
    CheckpointTooLargeError,
    Item,
    checkpoint_item_id,
    chunk_item_id,
    decode_payload,
    encode_payload,
    write_item_id,
)

if TYPE_CHECKING:
    from agent.settings import Settings

__all__ = ["INDEXING_POLICY", "CheckpointTooLargeError", "CosmosSaver"]

# Module-level aliases: inside the class, `list` names the `list` method.
Items = list[Item]
PendingWrites = list[tuple[str, str, Any]]

_CONCURRENCY = 16
_ASYNC_ONLY = "CosmosSaver is async-only: use the async API ({}), e.g. graph.ainvoke/astream."


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    ids = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
    return {"configurable": ids}


def _write_order(row: Item) -> tuple[str, str, int]:
    """LangGraph's pending-writes order: task path, task id, write index."""
    return row.get("task_path") or "", row["task_id"], int(row["idx"])


class CosmosSaver(BaseCheckpointSaver[int]):
    """Async checkpointer storing LangGraph threads in one Cosmos DB container."""

    def __init__(
        self,
        container: ContainerProxy,
        *,
        ttl_seconds: int,
        max_bytes: int,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if ttl_seconds == 0 or ttl_seconds < -1:
            raise ValueError("ttl_seconds must be -1 (never expire) or a positive number")
        self.container = container
        self.ttl = ttl_seconds
        self.max_bytes = max_bytes

    @classmethod
    @asynccontextmanager
    async def from_settings(cls, settings: Settings) -> AsyncIterator[CosmosSaver]:
        """A saver on the configured container; the client is closed on exit."""
        async with open_container(settings) as container:
            yield cls(
                container,
                ttl_seconds=settings.thread_ttl_seconds,
                max_bytes=settings.checkpoint_max_bytes,
            )

    # --- sync API: not supported ---------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        raise NotImplementedError(_ASYNC_ONLY.format("aget_tuple"))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        raise NotImplementedError(_ASYNC_ONLY.format("alist"))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        raise NotImplementedError(_ASYNC_ONLY.format("aput"))

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        raise NotImplementedError(_ASYNC_ONLY.format("aput_writes"))

    def delete_thread(self, thread_id: str) -> None:
        raise NotImplementedError(_ASYNC_ONLY.format("adelete_thread"))

    # --- low-level helpers -----------------------------------------------------------------
    def _rows(
        self, partition: str | None, query: queries.Query, page_size: int
    ) -> AsyncIterator[Item]:
        """Rows of `query` in one thread's partition (`partition=None`: across all threads)."""
        text, params = query
        parameters = [{"name": f"@{k}", "value": v} for k, v in params.items()]
        if partition is None:
            return self.container.query_items(
                text, parameters=parameters, enable_cross_partition_query=True,
                max_item_count=page_size,
            )
        return self.container.query_items(
            text, parameters=parameters, partition_key=partition, max_item_count=page_size
        )

    async def _all(self, partition: str | None, query: queries.Query) -> Items:
        return [dict(row) async for row in self._rows(partition, query, queries.FULL_PAGE_SIZE)]

    async def _gather(self, calls: Sequence[Awaitable[Any]]) -> Sequence[Any]:
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def run(call: Awaitable[Any]) -> Any:
            async with gate:
                return await call

        return await asyncio.gather(*(run(c) for c in calls))

    async def _upsert_all(self, items: Sequence[Item]) -> None:
        await self._gather([self.container.upsert_item(item) for item in items])

    async def _read(self, item_id: str, thread_id: str) -> Item | None:
        try:
            return dict(await self.container.read_item(item_id, partition_key=thread_id))
        except CosmosResourceNotFoundError:
            return None

    async def _load(self, row: Item) -> Any:
        """Deserialize the payload of a checkpoint or write row (point-reading its chunks)."""
        chunks: Items = []
        if row.get("chunks"):
            found = await self._gather(
                [
                    self._read(chunk_item_id(row["id"], i), row["thread_id"])
                    for i in range(int(row["chunks"]))
                ]
            )
            if any(c is None for c in found):
                raise RuntimeError(f"Cosmos item {row['id']!r} is missing chunks")
            chunks = [c for c in found if c is not None]
        return self.serde.loads_typed(decode_payload(row, chunks))

    async def _pending(self, rows: Items) -> PendingWrites:
        """`(task_id, channel, value)` of write rows, in LangGraph's order."""
        rows = sorted(rows, key=_write_order)
        values = await self._gather([self._load(r) for r in rows])
        return [(r["task_id"], r["channel"], v) for r, v in zip(rows, values, strict=True)]

    async def _tuple(self, row: Item, write_rows: Items) -> CheckpointTuple:
        thread_id, ns = row["thread_id"], row["checkpoint_ns"]
        parent = row.get("parent_checkpoint_id")
        checkpoint, writes = await asyncio.gather(self._load(row), self._pending(write_rows))
        return CheckpointTuple(
            config=_config(thread_id, ns, row["checkpoint_id"]),
            checkpoint=checkpoint,
            metadata=row.get("metadata") or {},
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=writes,
        )

    # --- reading -----------------------------------------------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The given (or latest) checkpoint with its pending writes: one single-partition query
        (plus point reads of chunks, for a payload too large for its item)."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id is None:
            rows = self._rows(thread_id, queries.latest_query(thread_id, ns),
                              queries.LATEST_PAGE_SIZE)
        else:
            rows = self._rows(thread_id, queries.checkpoint_query(thread_id, ns, checkpoint_id),
                              queries.FULL_PAGE_SIZE)
        row, write_rows = await queries.first_checkpoint_group(rows)
        return None if row is None else await self._tuple(row, write_rows)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints newest first: one query (filters, `before` and `limit` server-side where
        Cosmos can), then one query per thread and namespace for their pending writes."""
        configurable = dict(config["configurable"]) if config is not None else None
        before_id = get_checkpoint_id(before) if before is not None else None
        query, params, all_server_side = queries.list_query(configurable, filter, before_id, limit)
        partition = str(configurable["thread_id"]) if configurable is not None else None
        rows = await self._all(partition, (query, params))
        if filter and not all_server_side:
            rows = [
                r for r in rows
                if all((r.get("metadata") or {}).get(k) == v for k, v in filter.items())
            ]
        if limit is not None:
            rows = rows[: max(limit, 0)]
        groups: dict[tuple[str, str], set[str]] = {}
        for r in rows:
            groups.setdefault((r["thread_id"], r["checkpoint_ns"]), set()).add(r["checkpoint_id"])
        writes: dict[tuple[str, str, str], Items] = {}
        for (tid, ns), ids in groups.items():
            for w in await self._all(tid, queries.writes_query(tid, ns, sorted(ids))):
                writes.setdefault((tid, ns, w["checkpoint_id"]), []).append(w)
        for r in rows:
            yield await self._tuple(
                r, writes.get((r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"]), [])
            )

    # --- writing -----------------------------------------------------------------------------
    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Upsert the checkpoint item (after its chunk items, if any)."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        item_id = checkpoint_item_id(ns, checkpoint["id"])
        fields, chunks = encode_payload(
            item_id,
            thread_id,
            self.serde.dumps_typed(checkpoint),
            max_bytes=self.max_bytes,
            ttl=self.ttl,
            what=f"checkpoint {checkpoint['id']}",
        )
        item: Item = {
            "id": item_id,
            "thread_id": thread_id,
            "kind": "checkpoint",
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": configurable.get("checkpoint_id"),
            "metadata": json.loads(
                json.dumps(get_checkpoint_metadata(config, metadata), default=str)
            ),
            "ttl": self.ttl,
            **fields,
        }
        # Chunks first: a reader never sees a checkpoint item whose chunks are not there yet.
        await self._upsert_all(chunks)
        await self.container.upsert_item(item)
        return _config(thread_id, ns, checkpoint["id"])

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Upsert one item per write, keyed by checkpoint, task and write index."""
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = str(configurable["checkpoint_id"])
        items: Items = []
        chunks: Items = []
        for n, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, n)
            item_id = write_item_id(ns, checkpoint_id, task_id, idx)
            fields, parts = encode_payload(
                item_id,
                thread_id,
                self.serde.dumps_typed(value),
                max_bytes=self.max_bytes,
                ttl=self.ttl,
                what=f"pending write {channel!r} of checkpoint {checkpoint_id}",
            )
            chunks.extend(parts)
            items.append(
                {
                    "id": item_id,
                    "thread_id": thread_id,
                    "kind": "write",
                    "checkpoint_ns": ns,
                    "checkpoint_id": checkpoint_id,
                    "task_id": task_id,
                    "task_path": task_path,
                    "idx": idx,
                    "channel": channel,
                    "ttl": self.ttl,
                    **fields,
                }
            )
        await self._upsert_all(chunks)
        await self._upsert_all(items)

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every item of the thread: list the ids in its partition, delete each."""
        rows = await self._all(thread_id, queries.ids_query(thread_id))
        await self._gather([self._delete(r["id"], thread_id) for r in rows])

    async def _delete(self, item_id: str, thread_id: str) -> None:
        with suppress(CosmosResourceNotFoundError):
            await self.container.delete_item(item_id, partition_key=thread_id)
