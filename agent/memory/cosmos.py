"""LangGraph checkpointer on Azure Cosmos DB for NoSQL (async only).

All items of a thread share the partition key `/thread_id`, so every read, query and delete
stays in one logical partition. The latest checkpoint of a namespace is found by a
`TOP 1 ... ORDER BY c.checkpoint_id DESC` query inside the partition (an index seek returning one
item), so loading a thread costs the same at turn 2 and at
turn 500. Writes are upserts (idempotent), every item carries the thread TTL, and large payloads
are compressed and split into chunk items (see `agent.memory.cosmos_items` and
docs/memory-cosmos.md). Throttling (429) and unavailability (503) are retried by the SDK.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Iterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient
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

__all__ = ["CheckpointTooLargeError", "CosmosSaver"]

# Module-level aliases: inside the class, `list` names the `list` method.
Items = list[Item]
Writes = dict[str, list[tuple[str, str, Any]]]

_FILTER_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CONCURRENCY = 16
_ASYNC_ONLY = "CosmosSaver is async-only: use the async API ({}), e.g. graph.ainvoke/astream."

# Indexing policy used when the saver creates the container: payloads are never queried.
INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": "/data/?"}, {"path": '/"_etag"/?'}],
}


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
        """One Cosmos client for the process, closed (with its credential) on exit."""
        from azure.identity.aio import DefaultAzureCredential

        key = settings.azure_cosmosdb_key
        aad = None if key is not None else DefaultAzureCredential()
        credential: Any = aad if aad is not None else key.get_secret_value()  # type: ignore[union-attr]
        client = CosmosClient(settings.azure_cosmosdb_endpoint, credential=credential)
        try:
            if settings.azure_cosmosdb_create_if_missing:
                database = await client.create_database_if_not_exists(
                    settings.azure_cosmosdb_database
                )
                container = await database.create_container_if_not_exists(
                    id=settings.azure_cosmosdb_container,
                    partition_key=PartitionKey(path="/thread_id"),
                    default_ttl=-1,
                    indexing_policy=INDEXING_POLICY,
                )
            else:
                container = client.get_database_client(
                    settings.azure_cosmosdb_database
                ).get_container_client(settings.azure_cosmosdb_container)
            yield cls(
                container,
                ttl_seconds=settings.thread_ttl_seconds,
                max_bytes=settings.checkpoint_max_bytes,
            )
        finally:
            await client.close()
            if aad is not None:
                await aad.close()

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
    async def _read(self, item_id: str, thread_id: str) -> Item | None:
        try:
            return dict(await self.container.read_item(item_id, partition_key=thread_id))
        except CosmosResourceNotFoundError:
            return None

    async def _query(self, partition: str | None, query: str, /, **params: Any) -> Items:
        """Run `query` in one thread's partition (`partition=None`: across all threads)."""
        parameters = [{"name": f"@{k}", "value": v} for k, v in params.items()]
        if partition is None:
            pages = self.container.query_items(
                query, parameters=parameters, enable_cross_partition_query=True
            )
        else:
            pages = self.container.query_items(
                query, parameters=parameters, partition_key=partition
            )
        return [dict(item) async for item in pages]

    async def _gather(self, calls: Sequence[Awaitable[Any]]) -> Sequence[Any]:
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def run(call: Awaitable[Any]) -> Any:
            async with gate:
                return await call

        return await asyncio.gather(*(run(c) for c in calls))

    async def _upsert_all(self, items: Sequence[Item]) -> None:
        await self._gather([self.container.upsert_item(item) for item in items])

    async def _load(self, item: Item) -> Any:
        """Deserialize the payload of a checkpoint or write item (fetching its chunks)."""
        chunks: Items = []
        if item.get("chunks"):
            found = await self._gather(
                [
                    self._read(chunk_item_id(item["id"], i), item["thread_id"])
                    for i in range(int(item["chunks"]))
                ]
            )
            if any(c is None for c in found):
                raise RuntimeError(f"Cosmos item {item['id']!r} is missing chunks")
            chunks = [c for c in found if c is not None]
        return self.serde.loads_typed(decode_payload(item, chunks))

    # --- reading -----------------------------------------------------------------------------
    async def _writes(
        self, thread_id: str, ns: str, checkpoint_ids: Sequence[str]
    ) -> Writes:
        """Pending writes of the given checkpoints (one query)."""
        if not checkpoint_ids:
            return {}
        items = await self._query(
            thread_id,
            "SELECT * FROM c WHERE c.thread_id = @thread_id AND c.kind = 'write' "
            "AND c.checkpoint_ns = @ns AND ARRAY_CONTAINS(@ids, c.checkpoint_id)",
            thread_id=thread_id,
            ns=ns,
            ids=list(checkpoint_ids),
        )
        return await self._decode_writes(items, checkpoint_ids)

    async def _decode_writes(
        self, items: Items, checkpoint_ids: Sequence[str]
    ) -> Writes:
        """Write items grouped by checkpoint id, in `writes_sort_key` order."""
        items = sorted(items, key=lambda w: (w.get("task_path", ""), w["task_id"], w["idx"]))
        values = await self._gather([self._load(w) for w in items])
        result: Writes = {cid: [] for cid in checkpoint_ids}
        for w, value in zip(items, values, strict=True):
            result.setdefault(w["checkpoint_id"], []).append((w["task_id"], w["channel"], value))
        return result

    def _tuple(self, item: Item, checkpoint: Checkpoint, writes: Any) -> CheckpointTuple:
        thread_id, ns = item["thread_id"], item["checkpoint_ns"]
        parent = item.get("parent_checkpoint_id")
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": item["checkpoint_id"],
                }
            },
            checkpoint=checkpoint,
            metadata=item.get("metadata") or {},
            parent_config=(
                {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                                  "checkpoint_id": parent}}
                if parent
                else None
            ),
            pending_writes=writes,
        )

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        configurable = config["configurable"]
        thread_id = str(configurable["thread_id"])
        ns = configurable.get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id is None:
            # Latest checkpoint: an index seek on checkpoint_id inside the thread's partition
            # that returns one item, however long the thread is.
            found = await self._query(
                thread_id,
                "SELECT TOP 1 * FROM c WHERE c.thread_id = @thread_id AND c.kind = 'checkpoint' "
                "AND c.checkpoint_ns = @ns ORDER BY c.checkpoint_id DESC",
                thread_id=thread_id,
                ns=ns,
            )
            item = found[0] if found else None
        else:
            item = await self._read(checkpoint_item_id(ns, checkpoint_id), thread_id)
        if item is None:
            return None
        cid = str(item["checkpoint_id"])
        checkpoint, writes = await asyncio.gather(
            self._load(item), self._writes(thread_id, ns, [cid])
        )
        return self._tuple(item, checkpoint, writes[cid])

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        conditions = ["c.kind = 'checkpoint'"]
        params: dict[str, Any] = {}
        thread_id: str | None = None
        if config is not None:
            thread_id = str(config["configurable"]["thread_id"])
            conditions.append("c.thread_id = @thread_id")
            params["thread_id"] = thread_id
            if "checkpoint_ns" in config["configurable"]:
                conditions.append("c.checkpoint_ns = @ns")
                params["ns"] = config["configurable"]["checkpoint_ns"]
            if config["configurable"].get("checkpoint_id"):
                conditions.append("c.checkpoint_id = @id")
                params["id"] = config["configurable"]["checkpoint_id"]
        if before is not None and (before_id := get_checkpoint_id(before)):
            conditions.append("c.checkpoint_id < @before")
            params["before"] = before_id
        all_server_side = True
        for n, (key, value) in enumerate((filter or {}).items()):
            scalar = value is None or isinstance(value, str | int | float)
            if scalar and _FILTER_KEY.fullmatch(key):
                conditions.append(f'c.metadata["{key}"] = @f{n}')
                params[f"f{n}"] = value
            else:
                all_server_side = False
        top = f"TOP {int(limit)} " if limit is not None and all_server_side else ""
        query = (
            f"SELECT {top}* FROM c WHERE {' AND '.join(conditions)} "
            "ORDER BY c.checkpoint_id DESC"
        )
        items = await self._query(thread_id, query, **params)
        if filter:
            items = [
                found for found in items
                if all((found.get("metadata") or {}).get(k) == v for k, v in filter.items())
            ]
        if limit is not None:
            items = items[: max(limit, 0)]
        groups: dict[tuple[str, str], list[str]] = {}
        for found in items:
            groups.setdefault((found["thread_id"], found["checkpoint_ns"]), []).append(
                found["checkpoint_id"]
            )
        writes: dict[tuple[str, str, str], Any] = {}
        for (tid, ns), ids in groups.items():
            for cid, pending in (await self._writes(tid, ns, ids)).items():
                writes[(tid, ns, cid)] = pending
        for found in items:
            where = (found["thread_id"], found["checkpoint_ns"], found["checkpoint_id"])
            yield self._tuple(found, await self._load(found), writes.get(where, []))

    # --- writing -----------------------------------------------------------------------------
    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
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
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
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
        items = await self._query(
            thread_id, "SELECT c.id FROM c WHERE c.thread_id = @thread_id", thread_id=thread_id
        )
        await self._gather([self._delete(found["id"], thread_id) for found in items])

    async def _delete(self, item_id: str, thread_id: str) -> None:
        with suppress(CosmosResourceNotFoundError):
            await self.container.delete_item(item_id, partition_key=thread_id)
