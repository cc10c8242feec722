"""LangGraph checkpointer on Azure Cosmos DB for NoSQL (async only).

All items of a thread share the partition key `/thread_id`, so every read, query and delete
stays in one logical partition. Loading a thread's latest state reads exactly one checkpoint's
payload: one query ordered by sort key, read until the first checkpoint row
(`agent.memory.cosmos_queries`); the conversation's messages, a `DeltaChannel`, come back with
one more query (`agent.memory.cosmos_history`). A task's pending writes are saved in one
transactional batch (all or none), the first value of a re-saved write is kept, writes don't
echo the item back (`agent.memory.cosmos_requests`), and large payloads are compressed and split
into chunk items that outlive their owner (`agent.memory.cosmos_payloads`,
`agent.memory.cosmos_items`). Deleting a thread first writes a tombstone, so an interrupted
delete never shows an older turn. Threads expire as a whole, and active ones are re-snapshotted
as they age (`agent.memory.cosmos_expiry`). With `keep_latest`, superseded checkpoints are
pruned when a self-contained checkpoint is saved (`agent.memory.pruning`). Turn leases live in
the same container (`agent.memory.cosmos_leases`), and so does the run event log (`runs`,
`agent.memory.cosmos_runlog`). Throttling (429), unavailability (503) and
dropped connections are retried by the SDK. See docs/memory-cosmos.md.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from azure.cosmos.aio import ContainerProxy
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    DeltaChannelHistory,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.base import SerializerProtocol

from agent.memory import cosmos_queries as queries
from agent.memory.cosmos_account import INDEXING_POLICY, open_container
from agent.memory.cosmos_expiry import ThreadExpiry
from agent.memory.cosmos_history import delta_channel_history
from agent.memory.cosmos_items import (
    INLINE_CHARS,
    TOMBSTONE_ID,
    CheckpointTooLargeError,
    Item,
    checkpoint_item_id,
    checkpoint_sort_key,
    tombstone_sort_key,
    write_item_id,
    write_sort_key,
)
from agent.memory.cosmos_leases import CosmosLeases
from agent.memory.cosmos_payloads import Gone, Payloads
from agent.memory.cosmos_requests import ContainerRequests, Items, Operations
from agent.memory.cosmos_runlog import CosmosRunEvents
from agent.memory.pruning import CheckpointRow, KeepLatestPruning, is_base, superseded
from agent.memory.runlog import DEFAULT_TTL_SECONDS as DEFAULT_RUN_EVENTS_TTL
from agent.memory.runlog import RunLog
from agent.memory.scrub import scrub_writes

if TYPE_CHECKING:
    from agent.settings import Settings

__all__ = ["INDEXING_POLICY", "CheckpointTooLargeError", "CosmosSaver"]

# Inline payloads of one transactional batch stay under this many base64 characters (larger
# ones go to chunk items), well below the batch's 2 MB.
_BATCH_INLINE_CHARS = 1_500_000
_ASYNC_ONLY = "CosmosSaver is async-only: use the async API ({}), e.g. graph.ainvoke/astream."


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    ids = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
    return {"configurable": ids}


def _ids(configurable: Mapping[str, Any]) -> tuple[str, str]:
    return str(configurable["thread_id"]), str(configurable.get("checkpoint_ns", ""))


class CosmosSaver(KeepLatestPruning, BaseCheckpointSaver[int]):
    """Async checkpointer storing LangGraph threads in one Cosmos DB container."""

    def __init__(
        self,
        container: ContainerProxy,
        *,
        ttl_seconds: int,
        max_bytes: int,
        keep_latest: bool = False,
        serde: SerializerProtocol | None = None,
        clock: Callable[[], float] = time.time,
        run_events_ttl_seconds: int = DEFAULT_RUN_EVENTS_TTL,
    ) -> None:
        super().__init__(serde=serde)
        self.expiry = ThreadExpiry(ttl_seconds, clock)
        self.container = container
        self.requests = ContainerRequests(container)
        self.max_bytes = max_bytes
        self.keep_latest = keep_latest
        self.leases = CosmosLeases(container)
        self.runs = RunLog(CosmosRunEvents(self.requests, run_events_ttl_seconds), self.leases)

    @classmethod
    @asynccontextmanager
    async def from_settings(cls, settings: Settings) -> AsyncIterator[CosmosSaver]:
        """A saver on the configured container, pruning superseded checkpoints; the client is
        closed on exit."""
        async with open_container(settings) as container:
            yield cls(
                container,
                ttl_seconds=settings.thread_ttl_seconds,
                max_bytes=settings.checkpoint_max_bytes,
                keep_latest=True,
                run_events_ttl_seconds=settings.run_events_ttl_seconds,
            )

    @property
    def ttl(self) -> int:
        """The threads' TTL in seconds (-1: never expire)."""
        return self.expiry.ttl

    @property
    def item_ttl(self) -> int:
        """The `ttl` every item carries (`agent.memory.cosmos_expiry`)."""
        return self.expiry.item_ttl

    @property
    def payloads(self) -> Payloads:
        """Payload encoding with the saver's current serializer."""
        return Payloads(self.requests, self.serde, max_bytes=self.max_bytes,
                        item_ttl=self.item_ttl)

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

    # --- reading -----------------------------------------------------------------------------
    async def _tuple(self, row: Item, write_rows: Items) -> CheckpointTuple:
        thread_id, ns = row["thread_id"], row["checkpoint_ns"]
        parent = row.get("parent_checkpoint_id")
        payloads = self.payloads
        checkpoint, writes = await asyncio.gather(payloads.load(row),
                                                  payloads.pending(write_rows))
        return CheckpointTuple(
            config=_config(thread_id, ns, row["checkpoint_id"]),
            checkpoint=checkpoint,
            metadata=self.expiry.metadata_for_reading(row),  # type: ignore[arg-type]
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=writes,
        )

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The given (or latest) checkpoint with its pending writes; None if there is none (or
        it expired, or its thread is being deleted). The latest: one single-partition query
        that reads only that checkpoint's payload (plus point reads of chunks, for a payload
        split in chunks); a given one: its query and a point read of the thread's tombstone."""
        thread_id, ns = _ids(config["configurable"])
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id is None:
            rows = self.requests.rows(thread_id, queries.latest_query(thread_id, ns),
                                      queries.LATEST_PAGE_SIZE)
            row, write_rows = await queries.latest_group(rows)
        else:
            found, tombstone = await asyncio.gather(
                self.requests.all(thread_id,
                                  queries.checkpoint_query(thread_id, ns, checkpoint_id)),
                self.requests.read(TOMBSTONE_ID, thread_id))
            row = next((r for r in found if r["kind"] == "checkpoint"), None)
            if tombstone is not None and tombstone["checkpoint_id"] > checkpoint_id:
                row = None
            write_rows = [r for r in found if r["kind"] == "write"]
        if row is None or self.expiry.expired(row):
            return None
        try:
            return await self._tuple(row, write_rows)
        except Gone:
            return None

    async def _deleted_before(self, thread_id: str | None) -> dict[str, str]:
        """Tombstones (thread id -> deleted before checkpoint id) of one thread, or of all."""
        if thread_id is not None:
            tombstone = await self.requests.read(TOMBSTONE_ID, thread_id)
            return {thread_id: tombstone["checkpoint_id"]} if tombstone else {}
        rows = await self.requests.all(None, queries.tombstones_query())
        return {r["thread_id"]: r["checkpoint_id"] for r in rows}

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Checkpoints newest first: one query (filters, `before` and `limit` server-side where
        Cosmos can), then one query per thread and namespace for their pending writes. Without
        a config, across every thread (a cross-partition query)."""
        configurable = dict(config["configurable"]) if config is not None else None
        thread = str(configurable["thread_id"]) if configurable is not None else None
        before_id = get_checkpoint_id(before) if before is not None else None
        deleted = await self._deleted_before(thread)
        query, params, all_server_side = queries.list_query(
            configurable, filter, before_id, None if deleted and thread is None else limit,
            deleted.get(thread) if thread is not None else None)
        rows = await self.requests.all(thread, (query, params))
        rows = [r for r in rows if r["checkpoint_id"] > deleted.get(r["thread_id"], "")
                and not self.expiry.expired(r)]
        if filter and not all_server_side:
            rows = [r for r in rows if queries.metadata_matches(r.get("metadata") or {}, filter)]
        if limit is not None:
            rows = rows[: max(limit, 0)]
        groups: dict[tuple[str, str], set[str]] = {}
        for r in rows:
            groups.setdefault((r["thread_id"], r["checkpoint_ns"]), set()).add(r["checkpoint_id"])
        writes: dict[tuple[str, str, str], Items] = {}
        for (tid, ns), ids in groups.items():
            for w in await self.requests.all(tid, queries.writes_query(tid, ns, sorted(ids))):
                writes.setdefault((tid, ns, w["checkpoint_id"]), []).append(w)
        for r in rows:
            key = (r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"])
            try:
                found = await self._tuple(r, writes.get(key, []))
            except Gone:
                continue
            yield found

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """The writes of `channels` along the checkpoint's ancestors, back to the nearest one
        that stores each channel (its seed): see `agent.memory.cosmos_history`."""
        if not channels:
            return {}
        thread_id, ns = _ids(config["configurable"])
        target = get_checkpoint_id(config)
        if target is None:
            latest = await self.aget_tuple(config)
            if latest is None:
                return {ch: {"writes": []} for ch in channels}
            target = str(latest.config["configurable"]["checkpoint_id"])
        found = await delta_channel_history(self.requests, self.payloads, thread_id, ns,
                                            target, channels)
        if found is None:  # saved by an older version of this saver
            return await super().aget_delta_channel_history(config=config, channels=channels)
        return found

    # --- writing -----------------------------------------------------------------------------
    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Write the checkpoint item (after its chunk items, if any); with `keep_latest`, a
        self-contained checkpoint then prunes the checkpoints it supersedes."""
        configurable = config["configurable"]
        thread_id, ns = _ids(configurable)
        item_id = checkpoint_item_id(ns, checkpoint["id"])
        full_metadata = get_checkpoint_metadata(config, metadata)
        parent = configurable.get("checkpoint_id")
        now = self.expiry.clock()
        base = is_base(full_metadata)
        base_at = (now if base or not parent
                   else await self.expiry.parent_base_at(self.requests, thread_id, ns, parent))
        self.expiry.remember(thread_id, ns, checkpoint["id"], base_at)
        item: Item = {
            "id": item_id,
            "thread_id": thread_id,
            "kind": "checkpoint",
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint["id"],
            "sk": checkpoint_sort_key(checkpoint["id"]),
            "parent_checkpoint_id": parent,
            "metadata": json.loads(json.dumps(full_metadata, default=str)),
            "stored": sorted(checkpoint["channel_values"]),
            "base": base,
            "at": now,
            "base_at": base_at,
            "ttl": self.item_ttl,
        }
        fields, chunks = self.payloads.encode(item_id, item, checkpoint,
                                              f"checkpoint {checkpoint['id']}")
        # Chunks first: a reader never sees a checkpoint item whose chunks are not there yet.
        await self.requests.upsert_all(chunks)
        await self.requests.upsert({**item, **fields})
        if self.keep_latest and item["base"]:
            await self.prune_thread(thread_id, only_ns=ns)
        return _config(thread_id, ns, checkpoint["id"])

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Save a task's writes in one transactional batch: all of them or none. A write saved
        before keeps its first value (LangGraph's special channels, such as errors and
        interrupts, take the last), as LangGraph's own savers do. A failure on the error
        channel is stored scrubbed (`agent.memory.scrub`)."""
        writes = scrub_writes(writes)
        configurable = config["configurable"]
        thread_id, ns = _ids(configurable)
        checkpoint_id = str(configurable["checkpoint_id"])
        inline = min(INLINE_CHARS, _BATCH_INLINE_CHARS // max(len(writes), 1))
        payloads = self.payloads
        operations: Operations = []
        chunks: Items = []
        for n, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, n)
            item: Item = {
                "id": write_item_id(ns, checkpoint_id, task_id, idx),
                "thread_id": thread_id,
                "kind": "write",
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint_id,
                "sk": write_sort_key(checkpoint_id),
                "task_id": task_id,
                "task_path": task_path,
                "idx": idx,
                "channel": channel,
                "ttl": self.item_ttl,
            }
            fields, parts = payloads.encode(
                item["id"], item, value,
                f"pending write {channel!r} of checkpoint {checkpoint_id}", inline)
            chunks.extend(parts)
            operations.append(("upsert" if idx < 0 else "create", {**item, **fields}))
        await self.requests.upsert_all(chunks)
        await self.requests.write_batches(thread_id, operations)

    # --- deleting and pruning ------------------------------------------------------------------
    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every item of the thread (but its lease). A tombstone goes first: from then on
        readers see no thread, even if this is interrupted; a later delete finishes the job,
        and turns saved after it are unaffected."""
        before = str(uuid6(clock_seq=-1))
        tombstone: Item = {
            "id": TOMBSTONE_ID, "thread_id": thread_id, "kind": "tombstone",
            "checkpoint_ns": queries.ALL_NAMESPACES, "checkpoint_id": before,
            "sk": tombstone_sort_key(before), "ttl": self.item_ttl,
        }
        await self.requests.upsert(tombstone)
        rows = await self.requests.all(thread_id, queries.deletable_ids_query(thread_id, before))
        await self.requests.delete_items(thread_id, [r["id"] for r in rows])
        await self.requests.delete(TOMBSTONE_ID, thread_id)

    async def prune_thread(self, thread_id: str, only_ns: str | None = None) -> None:
        """Remove the checkpoints of the thread (of one namespace) that keep-latest pruning
        drops, with their writes and chunks."""
        rows = await self.requests.all(thread_id, queries.checkpoint_rows_query(thread_id))
        drop = superseded(
            CheckpointRow(r["checkpoint_ns"], r["checkpoint_id"], r.get("parent_checkpoint_id"),
                          bool(r.get("base", True)))
            for r in rows if only_ns is None or r["checkpoint_ns"] == only_ns)
        for ns, ids in drop.items():
            found = await self.requests.all(
                thread_id, queries.items_of_checkpoints_query(thread_id, ns, ids))
            await self.requests.delete_items(thread_id, [r["id"] for r in found])
