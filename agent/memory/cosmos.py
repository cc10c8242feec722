"""LangGraph checkpointer on Azure Cosmos DB for NoSQL (async only).

All items of a thread share the partition key `/thread_id`, so every read, query and delete
stays in one logical partition. Loading a thread's latest state reads exactly one checkpoint's
payload: one query ordered by sort key, read until the first checkpoint row
(`agent.memory.cosmos_queries`); the conversation's messages, a `DeltaChannel`, come back with
one more query (`aget_delta_channel_history`). A task's pending writes are saved in one
transactional batch (all or none), the first value of a re-saved write is kept, writes don't
echo the item back, and large payloads are compressed and split into chunk items that outlive
their owner (`agent.memory.cosmos_items`). Deleting a thread first writes a tombstone, so an
interrupted delete never shows an older turn. With `keep_latest`, superseded checkpoints are
pruned when a self-contained checkpoint is saved (`agent.memory.pruning`). Turn leases live in
the same container (`agent.memory.cosmos_leases`). Throttling (429), unavailability (503) and
dropped connections are retried by the SDK. See docs/memory-cosmos.md.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosResourceNotFoundError
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
from agent.memory.cosmos_items import (
    INLINE_CHARS,
    TOMBSTONE_ID,
    CheckpointTooLargeError,
    Item,
    checkpoint_item_id,
    checkpoint_sort_key,
    chunk_item_id,
    decode_payload,
    encode_payload,
    tombstone_sort_key,
    write_item_id,
    write_sort_key,
)
from agent.memory.cosmos_leases import CosmosLeases
from agent.memory.pruning import CheckpointRow, KeepLatestPruning, is_base, superseded

if TYPE_CHECKING:
    from agent.settings import Settings

__all__ = ["INDEXING_POLICY", "CheckpointTooLargeError", "CosmosSaver"]

# Module-level aliases: inside the class, `list` names the `list` method.
Items = list[Item]
PendingWrites = list[tuple[str, str, Any]]
Operations = list[tuple[str, Item]]

_CONCURRENCY = 16
# A transactional batch holds at most 100 operations and 2 MB; inline payloads of one batch
# stay under this many base64 characters (larger ones go to chunk items).
_BATCH_OPERATIONS = 100
_BATCH_INLINE_CHARS = 1_500_000
# Counter value that makes LangGraph snapshot a delta channel at the next checkpoint.
_SNAPSHOT_NOW = 1_000_000_000
_ASYNC_ONLY = "CosmosSaver is async-only: use the async API ({}), e.g. graph.ainvoke/astream."


class _Gone(Exception):
    """A payload's chunk expired or was deleted: its item is as good as gone."""


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    ids = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
    return {"configurable": ids}


def _write_order(row: Item) -> tuple[str, str, int]:
    """LangGraph's pending-writes order (`writes_sort_key`): task path, task id, index."""
    return row.get("task_path") or "", row["task_id"], int(row["idx"])


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
    ) -> None:
        super().__init__(serde=serde)
        if ttl_seconds == 0 or ttl_seconds < -1:
            raise ValueError("ttl_seconds must be -1 (never expire) or a positive number")
        self.container = container
        self.ttl = ttl_seconds
        self.max_bytes = max_bytes
        self.keep_latest = keep_latest
        self.clock = clock
        self.leases = CosmosLeases(container)
        # Items live 1.5 x the thread TTL; a thread is shown until its base checkpoint is that
        # old (less a margin), and a turn re-snapshots a base older than half the TTL, so a
        # thread lasts at least `ttl_seconds` after its last turn (docs: "Expiry").
        self.item_ttl = -1 if ttl_seconds == -1 else ttl_seconds + ttl_seconds // 2
        self._expiry_margin = 0 if ttl_seconds == -1 else min(3600, self.item_ttl // 10)
        self._base_at: dict[tuple[str, str, str], float] = {}

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

    async def _all(self, partition: str | None, query: queries.Query) -> Items:
        return [dict(row) async for row in self._rows(partition, query, queries.FULL_PAGE_SIZE)]

    async def _gather(self, calls: Sequence[Awaitable[Any]]) -> Sequence[Any]:
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def run(call: Awaitable[Any]) -> Any:
            async with gate:
                return await call

        return await asyncio.gather(*(run(c) for c in calls))

    async def _upsert_all(self, items: Sequence[Item]) -> None:
        await self._gather([self.container.upsert_item(i, no_response=True) for i in items])

    async def _read(self, item_id: str, thread_id: str) -> Item | None:
        try:
            return dict(await self.container.read_item(item_id, partition_key=thread_id))
        except CosmosResourceNotFoundError:
            return None

    async def _load(self, row: Item) -> Any:
        """Deserialize the payload of a checkpoint or write row (point-reading its chunks)."""
        chunks: Items = []
        if row.get("chunks"):
            owner = row["id"] if not row.get("chunk_set") else f"{row['id']}.{row['chunk_set']}"
            found = await self._gather(
                [self._read(chunk_item_id(owner, i), row["thread_id"])
                 for i in range(int(row["chunks"]))]
            )
            if any(c is None for c in found):
                raise _Gone(row["id"])
            chunks = [c for c in found if c is not None]
        return self.serde.loads_typed(decode_payload(row, chunks))

    async def _pending(self, rows: Items) -> PendingWrites:
        """`(task_id, channel, value)` of write rows, in LangGraph's order."""
        rows = sorted(rows, key=_write_order)
        values = await self._gather([self._load(r) for r in rows])
        return [(r["task_id"], r["channel"], v) for r, v in zip(rows, values, strict=True)]

    def _base_age(self, row: Item) -> float:
        """Seconds since the checkpoint's base (the checkpoint its history starts at) was
        written; 0 when unknown or when threads never expire."""
        base_at = row.get("base_at")
        if self.ttl == -1 or not isinstance(base_at, int | float):
            return 0.0
        self._remember(row["thread_id"], row["checkpoint_ns"], row["checkpoint_id"], base_at)
        return self.clock() - base_at

    def _expired(self, row: Item) -> bool:
        """The thread's base is about to expire: the thread counts as gone (its items follow)."""
        return self.ttl != -1 and self._base_age(row) >= self.item_ttl - self._expiry_margin

    def _remember(self, thread_id: str, ns: str, checkpoint_id: str, base_at: float) -> None:
        if len(self._base_at) > 10_000:
            self._base_at.clear()
        self._base_at[(thread_id, ns, checkpoint_id)] = base_at

    async def _tuple(self, row: Item, write_rows: Items) -> CheckpointTuple:
        thread_id, ns = row["thread_id"], row["checkpoint_ns"]
        parent = row.get("parent_checkpoint_id")
        checkpoint, writes = await asyncio.gather(self._load(row), self._pending(write_rows))
        metadata = dict(row.get("metadata") or {})
        counters = metadata.get("counters_since_delta_snapshot")
        if counters and self.ttl != -1 and self._base_age(row) > self.ttl / 2:
            # The history this checkpoint is read from is getting old: claim that its delta
            # channels are due, so the next checkpoint LangGraph saves is a full snapshot (a
            # new base), and older items can expire without taking the conversation along.
            metadata["counters_since_delta_snapshot"] = {
                channel: [_SNAPSHOT_NOW, _SNAPSHOT_NOW] for channel in counters}
        return CheckpointTuple(
            config=_config(thread_id, ns, row["checkpoint_id"]),
            checkpoint=checkpoint,
            metadata=metadata,  # type: ignore[arg-type]  # the stored metadata, as a dict
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=writes,
        )

    def _encode(self, item_id: str, owner: Item, value: Any, what: str,
                inline_chars: int = INLINE_CHARS) -> tuple[Item, Items]:
        """Payload fields for an item and its chunk items (a fresh chunk set per write, so a
        write that loses to an existing item never touches that item's chunks)."""
        chunk_set = uuid.uuid4().hex[:8]
        fields, chunks = encode_payload(
            f"{item_id}.{chunk_set}", owner, self.serde.dumps_typed(value),
            max_bytes=self.max_bytes, ttl=self.item_ttl, what=what, inline_chars=inline_chars,
        )
        if chunks:
            fields["chunk_set"] = chunk_set
        return fields, chunks

    # --- reading -----------------------------------------------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The given (or latest) checkpoint with its pending writes; None if there is none (or
        it expired, or its thread is being deleted). The latest: one single-partition query
        that reads only that checkpoint's payload (plus point reads of chunks, for a payload
        split in chunks); a given one: its query and a point read of the thread's tombstone."""
        thread_id, ns = _ids(config["configurable"])
        checkpoint_id = get_checkpoint_id(config)
        if checkpoint_id is None:
            rows = self._rows(thread_id, queries.latest_query(thread_id, ns),
                              queries.LATEST_PAGE_SIZE)
            row, write_rows = await queries.latest_group(rows)
        else:
            found, tombstone = await asyncio.gather(
                self._all(thread_id, queries.checkpoint_query(thread_id, ns, checkpoint_id)),
                self._read(TOMBSTONE_ID, thread_id))
            row = next((r for r in found if r["kind"] == "checkpoint"), None)
            if tombstone is not None and tombstone["checkpoint_id"] > checkpoint_id:
                row = None
            write_rows = [r for r in found if r["kind"] == "write"]
        if row is None or self._expired(row):
            return None
        try:
            return await self._tuple(row, write_rows)
        except _Gone:
            return None

    async def _deleted_before(self, thread_id: str | None) -> dict[str, str]:
        """Tombstones (thread id -> deleted before checkpoint id) of one thread, or of all."""
        if thread_id is not None:
            tombstone = await self._read(TOMBSTONE_ID, thread_id)
            return {thread_id: tombstone["checkpoint_id"]} if tombstone else {}
        rows = await self._all(None, queries.tombstones_query())
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
        rows = await self._all(thread, (query, params))
        rows = [r for r in rows if r["checkpoint_id"] > deleted.get(r["thread_id"], "")
                and not self._expired(r)]
        if filter and not all_server_side:
            rows = [r for r in rows if queries.metadata_matches(r.get("metadata") or {}, filter)]
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
            key = (r["thread_id"], r["checkpoint_ns"], r["checkpoint_id"])
            try:
                found = await self._tuple(r, writes.get(key, []))
            except _Gone:
                continue
            yield found

    async def aget_delta_channel_history(
        self, *, config: RunnableConfig, channels: Sequence[str]
    ) -> Mapping[str, DeltaChannelHistory]:
        """The writes of `channels` along the checkpoint's ancestors, back to the nearest one
        that stores each channel (its seed): the namespace's checkpoint ids and parents (one
        query, no payloads), then the writes needed (one query) and the seed checkpoint (a
        point read), those two at once."""
        if not channels:
            return {}
        thread_id, ns = _ids(config["configurable"])
        target = get_checkpoint_id(config)
        if target is None:
            latest = await self.aget_tuple(config)
            if latest is None:
                return {ch: {"writes": []} for ch in channels}
            target = str(latest.config["configurable"]["checkpoint_id"])
        by_id = {r["checkpoint_id"]: r for r in await self._all(
            thread_id, queries.chain_query(thread_id, ns))}
        if target not in by_id:
            return {ch: {"writes": []} for ch in channels}
        chain: dict[str, list[str]] = {ch: [] for ch in channels}
        seeds: dict[str, str] = {}
        remaining, seen = set(channels), set()
        cursor: str | None = by_id[target].get("parent_checkpoint_id")
        while cursor is not None and cursor in by_id and remaining and cursor not in seen:
            row = by_id[cursor]
            if row.get("stored") is None:  # saved by an older version of this saver
                return await super().aget_delta_channel_history(config=config,
                                                                channels=channels)
            seen.add(cursor)
            for ch in list(remaining):
                chain[ch].append(cursor)
                if ch in row["stored"]:
                    seeds[ch] = cursor
                    remaining.discard(ch)
            cursor = row.get("parent_checkpoint_id")
        ids = sorted({cid for ids in chain.values() for cid in ids})
        if not ids:
            return {ch: {"writes": []} for ch in channels}
        seed_ids = sorted(set(seeds.values()))
        rows, seed_rows = await asyncio.gather(
            self._all(thread_id, queries.history_query(thread_id, ns, ids, list(channels))),
            asyncio.gather(*(self._read(checkpoint_item_id(ns, cid), thread_id)
                             for cid in seed_ids)))
        seed_values = {cid: await self._load(row)
                       for cid, row in zip(seed_ids, seed_rows, strict=True) if row is not None}
        writes: dict[str, Items] = {}
        for r in rows:
            writes.setdefault(r["checkpoint_id"], []).append(r)
        result: dict[str, DeltaChannelHistory] = {}
        for ch in channels:
            collected: PendingWrites = []
            for cid in reversed(chain[ch]):
                mine = [w for w in writes.get(cid, []) if w["channel"] == ch]
                collected.extend(await self._pending(mine))
            entry: DeltaChannelHistory = {"writes": collected}
            if ch in seeds and seeds[ch] in seed_values:
                entry["seed"] = seed_values[seeds[ch]]["channel_values"][ch]
            result[ch] = entry
        return result

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
        now = self.clock()
        base = is_base(full_metadata)
        base_at = now if base or not parent else await self._parent_base_at(thread_id, ns, parent)
        self._remember(thread_id, ns, checkpoint["id"], base_at)
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
        fields, chunks = self._encode(item_id, item, checkpoint,
                                      f"checkpoint {checkpoint['id']}")
        # Chunks first: a reader never sees a checkpoint item whose chunks are not there yet.
        await self._upsert_all(chunks)
        await self.container.upsert_item({**item, **fields}, no_response=True)
        if self.keep_latest and item["base"]:
            await self._prune(thread_id, only_ns=ns)
        return _config(thread_id, ns, checkpoint["id"])

    async def _parent_base_at(self, thread_id: str, ns: str, parent: str) -> float:
        """When the parent's base was written (remembered from reading it, else queried)."""
        known = self._base_at.get((thread_id, ns, parent))
        if known is not None:
            return known
        rows = await self._all(thread_id, queries.base_at_query(thread_id, ns, parent))
        found = rows[0].get("base_at") if rows else None
        return float(found) if isinstance(found, int | float) else self.clock()

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Save a task's writes in one transactional batch: all of them or none. A write saved
        before keeps its first value (LangGraph's special channels, such as errors and
        interrupts, take the last), as LangGraph's own savers do."""
        configurable = config["configurable"]
        thread_id, ns = _ids(configurable)
        checkpoint_id = str(configurable["checkpoint_id"])
        inline = min(INLINE_CHARS, _BATCH_INLINE_CHARS // max(len(writes), 1))
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
            fields, parts = self._encode(
                item["id"], item, value,
                f"pending write {channel!r} of checkpoint {checkpoint_id}", inline)
            chunks.extend(parts)
            operations.append(("upsert" if idx < 0 else "create", {**item, **fields}))
        await self._upsert_all(chunks)
        for start in range(0, len(operations), _BATCH_OPERATIONS):
            await self._write_batch(thread_id, operations[start:start + _BATCH_OPERATIONS])

    async def _write_batch(self, thread_id: str, operations: Operations) -> None:
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
        existing = {r["id"] for r in await self._all(thread_id, (
            "SELECT c.id FROM c WHERE c.thread_id = @t AND ARRAY_CONTAINS(@ids, c.id)",
            {"t": thread_id, "ids": ids}))}
        rest = [(op, item) for op, item in operations
                if not (op == "create" and item["id"] in existing)]
        if rest:
            await self.container.execute_item_batch(
                [(op, (item,)) for op, item in rest], partition_key=thread_id,
                no_response=True)

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
        await self.container.upsert_item(tombstone, no_response=True)
        rows = await self._all(thread_id, queries.deletable_ids_query(thread_id, before))
        await self._delete_items(thread_id, [r["id"] for r in rows])
        await self._delete(TOMBSTONE_ID, thread_id)

    async def _prune(self, thread_id: str, only_ns: str | None = None) -> None:
        rows = await self._all(thread_id, queries.checkpoint_rows_query(thread_id))
        drop = superseded(
            CheckpointRow(r["checkpoint_ns"], r["checkpoint_id"], r.get("parent_checkpoint_id"),
                          bool(r.get("base", True)))
            for r in rows if only_ns is None or r["checkpoint_ns"] == only_ns)
        for ns, ids in drop.items():
            found = await self._all(thread_id,
                                    queries.items_of_checkpoints_query(thread_id, ns, ids))
            await self._delete_items(thread_id, [r["id"] for r in found])

    async def _delete_items(self, thread_id: str, item_ids: Sequence[str]) -> None:
        """Delete items of one partition: transactional batches of up to 100 deletes (one by one
        where a batch fails because an item is gone already)."""
        for start in range(0, len(item_ids), _BATCH_OPERATIONS):
            part = item_ids[start:start + _BATCH_OPERATIONS]
            try:
                await self.container.execute_item_batch(
                    [("delete", (item_id,)) for item_id in part], partition_key=thread_id)
            except CosmosBatchOperationError as exc:
                if exc.status_code != 404:
                    raise
                await self._gather([self._delete(item_id, thread_id) for item_id in part])

    async def _delete(self, item_id: str, thread_id: str) -> None:
        with suppress(CosmosResourceNotFoundError):
            await self.container.delete_item(item_id, partition_key=thread_id)
