"""Serialized payloads of the Cosmos DB thread store: values in, items out, and back.

A checkpoint or a pending-write value is serialized by the saver's serializer (LangGraph's
`dumps_typed`), then encoded into its item, or into chunk items, by `cosmos_items`. Reading it
back point-reads the chunks, if any; a chunk that has gone (expired, deleted) makes the whole
item count as gone (`Gone`), never an error. Built per call from the saver's current
serializer (a saver cloned by LangGraph's `with_allowlist` has its own).
"""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol

from agent.memory.cosmos_items import (
    INLINE_CHARS,
    Item,
    chunk_item_id,
    decode_payload,
    encode_payload,
)
from agent.memory.cosmos_requests import ContainerRequests, Items

# `(task_id, channel, value)` of a checkpoint's pending writes.
PendingWrites = list[tuple[str, str, Any]]


class Gone(Exception):
    """A payload's chunk expired or was deleted: its item is as good as gone."""


def write_order(row: Item) -> tuple[str, str, int]:
    """LangGraph's pending-writes order (`writes_sort_key`): task path, task id, index."""
    return row.get("task_path") or "", row["task_id"], int(row["idx"])


class Payloads:
    """Encodes values into items and loads them back, with one serializer."""

    def __init__(self, requests: ContainerRequests, serde: SerializerProtocol, *,
                 max_bytes: int, item_ttl: int) -> None:
        self.requests = requests
        self.serde = serde
        self.max_bytes = max_bytes
        self.item_ttl = item_ttl

    async def load(self, row: Item) -> Any:
        """Deserialize the payload of a checkpoint or write row (point-reading its chunks)."""
        chunks: Items = []
        if row.get("chunks"):
            owner = row["id"] if not row.get("chunk_set") else f"{row['id']}.{row['chunk_set']}"
            found = await self.requests.gather(
                [self.requests.read(chunk_item_id(owner, i), row["thread_id"])
                 for i in range(int(row["chunks"]))]
            )
            if any(c is None for c in found):
                raise Gone(row["id"])
            chunks = [c for c in found if c is not None]
        return self.serde.loads_typed(decode_payload(row, chunks))

    async def pending(self, rows: Items) -> PendingWrites:
        """`(task_id, channel, value)` of write rows, in LangGraph's order."""
        rows = sorted(rows, key=write_order)
        values = await self.requests.gather([self.load(r) for r in rows])
        return [(r["task_id"], r["channel"], v) for r, v in zip(rows, values, strict=True)]

    def encode(self, item_id: str, owner: Item, value: Any, what: str,
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
