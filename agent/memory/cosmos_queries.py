"""The Cosmos DB SQL queries of the thread store, and how their results are read.

Every query but the cross-thread listing names the thread's partition key, so it runs in one
logical partition. Queries project only the fields the saver reads (no system fields, no
`ttl`). The latest checkpoint of a namespace comes back from one query ordered by the sort key
`sk` (`latest_query`, read with `latest_group`): a checkpoint's pending writes sort right above
it, so reading stops at the first checkpoint row, and only that checkpoint's payload is read.

A thread being deleted has a tombstone item whose `checkpoint_id` is a checkpoint id made when
the delete began: everything older is gone for readers, even while its items are still being
deleted (or if the delete was interrupted); checkpoints written later are not affected.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from typing import Any

from agent.memory.cosmos_items import Item

# A SQL text with its parameters ({"name": value}, without the "@").
Query = tuple[str, dict[str, Any]]

# Rows per page of the latest-checkpoint query: one. After a finished turn the newest row is the
# latest checkpoint itself, so one request reads exactly its payload; a checkpoint with pending
# writes (an interrupt, a failed task) costs one more request per write.
LATEST_PAGE_SIZE = 1
# Rows per page when all rows are wanted (one checkpoint's writes, a listing, a history).
FULL_PAGE_SIZE = 1000

_PAYLOAD = "c.type, c.enc, c.chunks, c.chunk_set, c.data"
_CHECKPOINT = (
    "c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.metadata, c.base_at"
)
_WRITE = "c.checkpoint_ns, c.checkpoint_id, c.task_id, c.task_path, c.idx, c.channel"
# Fields of checkpoint, write and tombstone rows together (a row lacks the other kinds' fields).
_ROW = (
    "c.id, c.thread_id, c.kind, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, "
    f"c.metadata, c.base_at, c.task_id, c.task_path, c.idx, c.channel, {_PAYLOAD}"
)
_FILTER_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# The `checkpoint_ns` of a tombstone: it applies to every namespace (no real one looks like
# this). Queries match it with IN rather than OR, which both the service and the stand-in
# serve from the index.
ALL_NAMESPACES = "<all namespaces>"


def latest_query(thread_id: str, ns: str) -> Query:
    """Newest first: pending writes, then their checkpoint, down to the thread's tombstone.

    One-field ORDER BY on the range index (no composite index). Chunk and lease items are never
    part of the result.
    """
    return (
        f"SELECT {_ROW} FROM c WHERE c.thread_id = @thread_id "
        "AND c.checkpoint_ns IN (@ns, @all) AND c.kind IN ('checkpoint', 'write', 'tombstone') "
        "ORDER BY c.sk DESC",
        {"thread_id": thread_id, "ns": ns, "all": ALL_NAMESPACES},
    )


def checkpoint_query(thread_id: str, ns: str, checkpoint_id: str) -> Query:
    """One given checkpoint with its pending writes."""
    return (
        f"SELECT {_ROW} FROM c WHERE c.thread_id = @thread_id AND c.checkpoint_ns = @ns "
        "AND c.checkpoint_id = @id AND c.kind IN ('checkpoint', 'write')",
        {"thread_id": thread_id, "ns": ns, "id": checkpoint_id},
    )


def writes_query(thread_id: str, ns: str, checkpoint_ids: list[str]) -> Query:
    """Pending writes of several checkpoints of one namespace (single partition)."""
    return (
        f"SELECT c.id, c.thread_id, c.kind, {_WRITE}, {_PAYLOAD} FROM c "
        "WHERE c.thread_id = @thread_id AND c.kind = 'write' AND c.checkpoint_ns = @ns "
        "AND ARRAY_CONTAINS(@ids, c.checkpoint_id)",
        {"thread_id": thread_id, "ns": ns, "ids": checkpoint_ids},
    )


def chain_query(thread_id: str, ns: str) -> Query:
    """Every checkpoint of a namespace: id, parent and the channels it stores (no payload)."""
    return (
        "SELECT c.checkpoint_id, c.parent_checkpoint_id, c.stored FROM c "
        "WHERE c.thread_id = @thread_id AND c.kind = 'checkpoint' AND c.checkpoint_ns = @ns",
        {"thread_id": thread_id, "ns": ns},
    )


def history_query(thread_id: str, ns: str, checkpoint_ids: list[str], channels: list[str]
                  ) -> Query:
    """The writes of `channels` stored at `checkpoint_ids` (single partition)."""
    return (
        f"SELECT c.id, c.thread_id, c.kind, {_WRITE}, {_PAYLOAD} FROM c "
        "WHERE c.thread_id = @thread_id AND c.kind = 'write' AND c.checkpoint_ns = @ns "
        "AND ARRAY_CONTAINS(@ids, c.checkpoint_id) AND ARRAY_CONTAINS(@channels, c.channel)",
        {"thread_id": thread_id, "ns": ns, "ids": checkpoint_ids, "channels": channels},
    )


def base_at_query(thread_id: str, ns: str, checkpoint_id: str) -> Query:
    """When the base of one checkpoint's history was written (no payload)."""
    return (
        "SELECT c.base_at FROM c WHERE c.thread_id = @thread_id AND c.kind = 'checkpoint' "
        "AND c.checkpoint_ns = @ns AND c.checkpoint_id = @id",
        {"thread_id": thread_id, "ns": ns, "id": checkpoint_id},
    )


def checkpoint_rows_query(thread_id: str) -> Query:
    """Every checkpoint of a thread, all namespaces: what pruning decides on (no payload)."""
    return (
        "SELECT c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.base FROM c "
        "WHERE c.thread_id = @thread_id AND c.kind = 'checkpoint'",
        {"thread_id": thread_id},
    )


def items_of_checkpoints_query(thread_id: str, ns: str, checkpoint_ids: list[str]) -> Query:
    """Ids of the checkpoint, write and chunk items of some checkpoints of a namespace."""
    return (
        "SELECT c.id FROM c WHERE c.thread_id = @thread_id AND c.checkpoint_ns = @ns "
        "AND ARRAY_CONTAINS(@ids, c.checkpoint_id) AND c.kind != 'tombstone'",
        {"thread_id": thread_id, "ns": ns, "ids": checkpoint_ids},
    )


def deletable_ids_query(thread_id: str, before: str) -> Query:
    """Ids of every item of a thread older than its tombstone (not the tombstone, not the
    lease): checkpoints, writes, chunks."""
    return (
        "SELECT c.id FROM c WHERE c.thread_id = @thread_id AND c.kind != 'tombstone' "
        "AND c.kind != 'lease' AND (NOT IS_DEFINED(c.checkpoint_id) OR c.checkpoint_id < @before)",
        {"thread_id": thread_id, "before": before},
    )


def tombstones_query() -> Query:
    """Every thread's tombstone (cross-partition; for listing across threads)."""
    return "SELECT c.thread_id, c.checkpoint_id FROM c WHERE c.kind = 'tombstone'", {}


def list_query(
    configurable: dict[str, Any] | None,
    filter: dict[str, Any] | None,
    before_id: str | None,
    limit: int | None,
    deleted_before: str | None = None,
) -> tuple[str, dict[str, Any], bool]:
    """Checkpoints newest first, with what Cosmos can apply server-side.

    A filter value of None matches checkpoints whose metadata lacks the key, as LangGraph's
    own savers do. `deleted_before` hides checkpoints older than the thread's tombstone.
    Returns the query, its parameters and whether every filter is applied by the server (if
    not, the caller filters the rows and applies `limit` itself; the query then has no TOP).
    """
    conditions = ["c.kind = 'checkpoint'"]
    params: dict[str, Any] = {}
    if configurable is not None:
        conditions.append("c.thread_id = @thread_id")
        params["thread_id"] = str(configurable["thread_id"])
        if "checkpoint_ns" in configurable:
            conditions.append("c.checkpoint_ns = @ns")
            params["ns"] = configurable["checkpoint_ns"]
        if configurable.get("checkpoint_id"):
            conditions.append("c.checkpoint_id = @id")
            params["id"] = configurable["checkpoint_id"]
    if before_id:
        conditions.append("c.checkpoint_id < @before")
        params["before"] = before_id
    if deleted_before:
        conditions.append("c.checkpoint_id > @deleted")
        params["deleted"] = deleted_before
    all_server_side = True
    for n, (key, value) in enumerate((filter or {}).items()):
        field = f'c.metadata["{key}"]'
        if not _FILTER_KEY.fullmatch(key):
            all_server_side = False
        elif value is None:
            conditions.append(f"(NOT IS_DEFINED({field}) OR IS_NULL({field}))")
        elif isinstance(value, str | int | float):
            conditions.append(f"{field} = @f{n}")
            params[f"f{n}"] = value
        else:
            all_server_side = False
    top = f"TOP {int(limit)} " if limit is not None and all_server_side else ""
    query = (
        f"SELECT {top}c.id, c.thread_id, c.kind, {_CHECKPOINT}, {_PAYLOAD} FROM c "
        f"WHERE {' AND '.join(conditions)} ORDER BY c.checkpoint_id DESC"
    )
    return query, params, all_server_side


async def latest_group(rows: AsyncIterable[Item]) -> tuple[Item | None, list[Item]]:
    """The first checkpoint row and the write rows of the same checkpoint.

    `rows` come from `latest_query`, newest first. Iteration stops at the first checkpoint row,
    so no further page is fetched. Writes of a checkpoint that was never saved (newer than the
    latest) are skipped; a tombstone before any checkpoint means there is no thread.
    """
    writes: dict[str, list[Item]] = {}
    async for row in rows:
        if row["kind"] == "tombstone":
            return None, []
        if row["kind"] == "write":
            writes.setdefault(row["checkpoint_id"], []).append(row)
            continue
        return row, writes.get(row["checkpoint_id"], [])
    return None, []


def metadata_matches(metadata: dict[str, Any], filter: dict[str, Any]) -> bool:
    """LangGraph's metadata filter: every key equal (a missing key equals None)."""
    return all(metadata.get(key) == value for key, value in filter.items())
