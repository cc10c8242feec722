"""The Cosmos DB SQL queries of the thread store, and how their results are read.

Every query but the cross-thread listing names the thread's partition key, so it runs in one
logical partition. Queries project only the fields the saver reads (no system fields, no
`ttl`). The latest checkpoint of a namespace and its pending writes come back from one query,
ordered by `checkpoint_id` (`latest_query`, read with `first_checkpoint_group`): write items
carry the `checkpoint_id` of their checkpoint, so the newest checkpoint and its writes are the
first rows, and reading stops at the first row of an older checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable
from typing import Any

from agent.memory.cosmos_items import Item

# A SQL text with its parameters ({"name": value}, without the "@").
Query = tuple[str, dict[str, Any]]

# Rows per page of the latest-checkpoint query: the newest checkpoint plus one row of an older
# checkpoint, which shows that the newest has no (more) pending writes. A thread that stopped
# with pending writes (an interrupt, a failed task) takes a further page per two writes; older
# checkpoints never cost more than those two rows, however long the thread is.
LATEST_PAGE_SIZE = 2
# Rows per page when all rows are wanted (one checkpoint's writes, a listing).
FULL_PAGE_SIZE = 100

_PAYLOAD = "c.type, c.enc, c.chunks, c.data"
_CHECKPOINT = "c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, c.metadata"
_WRITE = "c.checkpoint_ns, c.checkpoint_id, c.task_id, c.task_path, c.idx, c.channel"
# Fields of checkpoint and write rows together (a row lacks the other kind's fields).
_ROW = (
    "c.id, c.thread_id, c.kind, c.checkpoint_ns, c.checkpoint_id, c.parent_checkpoint_id, "
    f"c.metadata, c.task_id, c.task_path, c.idx, c.channel, {_PAYLOAD}"
)
_FILTER_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def latest_query(thread_id: str, ns: str) -> Query:
    """Newest checkpoint of namespace `ns` with its pending writes first (single partition).

    One-field ORDER BY on the range index: no composite index, and the server reads only the
    rows it returns. Chunk items (`kind = 'chunk'`) are never part of the result.
    """
    return (
        f"SELECT {_ROW} FROM c WHERE c.thread_id = @thread_id AND c.checkpoint_ns = @ns "
        "AND (c.kind = 'checkpoint' OR c.kind = 'write') ORDER BY c.checkpoint_id DESC",
        {"thread_id": thread_id, "ns": ns},
    )


def checkpoint_query(thread_id: str, ns: str, checkpoint_id: str) -> Query:
    """One given checkpoint with its pending writes (single partition)."""
    return (
        f"SELECT {_ROW} FROM c WHERE c.thread_id = @thread_id AND c.checkpoint_ns = @ns "
        "AND c.checkpoint_id = @id AND (c.kind = 'checkpoint' OR c.kind = 'write')",
        {"thread_id": thread_id, "ns": ns, "id": checkpoint_id},
    )


def writes_query(thread_id: str, ns: str, checkpoint_ids: list[str]) -> Query:
    """Pending writes of several checkpoints of one namespace (single partition)."""
    return (
        f"SELECT c.id, c.thread_id, {_WRITE}, {_PAYLOAD} FROM c "
        "WHERE c.thread_id = @thread_id AND c.kind = 'write' AND c.checkpoint_ns = @ns "
        "AND ARRAY_CONTAINS(@ids, c.checkpoint_id)",
        {"thread_id": thread_id, "ns": ns, "ids": checkpoint_ids},
    )


def ids_query(thread_id: str) -> Query:
    """Ids of every item of a thread, chunks included (single partition)."""
    return "SELECT c.id FROM c WHERE c.thread_id = @thread_id", {"thread_id": thread_id}


def list_query(
    configurable: dict[str, Any] | None,
    filter: dict[str, Any] | None,
    before_id: str | None,
    limit: int | None,
) -> tuple[str, dict[str, Any], bool]:
    """Checkpoints newest first, with what Cosmos can apply server-side.

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
        f"SELECT {top}c.id, c.thread_id, {_CHECKPOINT}, {_PAYLOAD} FROM c "
        f"WHERE {' AND '.join(conditions)} ORDER BY c.checkpoint_id DESC"
    )
    return query, params, all_server_side


async def first_checkpoint_group(rows: AsyncIterable[Item]) -> tuple[Item | None, list[Item]]:
    """The first checkpoint row and the write rows of the same checkpoint.

    `rows` are ordered by `checkpoint_id`. Iteration stops at the first row of the next
    checkpoint, so no further page is fetched once the group is complete. Writes whose
    checkpoint row is missing (never saved) are skipped.
    """
    current: str | None = None
    group: list[Item] = []
    async for row in rows:
        if row["checkpoint_id"] != current:
            if any(r["kind"] == "checkpoint" for r in group):
                break
            current, group = row["checkpoint_id"], []
        group.append(row)
    checkpoint = next((r for r in group if r["kind"] == "checkpoint"), None)
    if checkpoint is None:
        return None, []
    return checkpoint, [r for r in group if r["kind"] == "write"]
