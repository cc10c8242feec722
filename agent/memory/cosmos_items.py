"""Item layout of the Cosmos DB thread store: item ids, sort keys and payload encoding.

Every item of a thread carries the partition key `thread_id`, a `kind` and a `ttl`. Checkpoint,
write and chunk items also carry the `checkpoint_ns` and `checkpoint_id` they belong to, and
checkpoint and write items a sort key `sk` that puts a checkpoint's pending writes right above
it (newest first). Payloads (serialized checkpoints and pending-write values) are compressed
with zlib when that helps, base64-encoded, and kept inline in their item when small; larger ones
are split across `chunk` items in the same partition, so no item comes near Cosmos DB's 2 MB
item limit. See docs/memory-cosmos.md for the full data model.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from typing import Any

# Largest base64 payload kept inside its owner item (leaves room for metadata and the envelope).
INLINE_CHARS = 1_000_000
# Size of one chunk item's base64 payload (well below the 2 MB item limit).
CHUNK_CHARS = 1_500_000
# Payloads smaller than this are stored uncompressed (zlib would not pay for itself).
COMPRESS_FROM_BYTES = 1024
# Chunks are written before their owner and must not expire before it: they live this much
# longer than the thread TTL (far more than writing one item can take).
CHUNK_TTL_MARGIN_SECONDS = 3600

TOMBSTONE_ID = "deleted"
LEASE_ID = "lease"

_SAFE_ID_PART = re.compile(r"[A-Za-z0-9_\-:]{1,100}")

Item = dict[str, Any]


class CheckpointTooLargeError(ValueError):
    """A checkpoint or pending write is larger than CHECKPOINT_MAX_BYTES allows."""


def id_part(value: str) -> str:
    """`value` if it is safe and short enough for an item id, else a stable hash of it."""
    if _SAFE_ID_PART.fullmatch(value):
        return value
    return "h" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:40]


def ns_key(checkpoint_ns: str) -> str:
    """Short id fragment for a checkpoint namespace ("root" for the root graph)."""
    if not checkpoint_ns:
        return "root"
    return hashlib.sha256(checkpoint_ns.encode("utf-8")).hexdigest()[:24]


def checkpoint_item_id(checkpoint_ns: str, checkpoint_id: str) -> str:
    """Id of a checkpoint item."""
    return f"cp.{ns_key(checkpoint_ns)}.{id_part(checkpoint_id)}"


def write_item_id(checkpoint_ns: str, checkpoint_id: str, task_id: str, idx: int) -> str:
    """Id of one pending write (task `task_id`, write index `idx`) of a checkpoint."""
    return f"w.{ns_key(checkpoint_ns)}.{id_part(checkpoint_id)}.{id_part(task_id)}.{idx}"


def chunk_item_id(owner_id: str, index: int) -> str:
    """Id of chunk `index` of the payload of item `owner_id`."""
    return f"{owner_id}.c{index}"


def checkpoint_sort_key(checkpoint_id: str) -> str:
    """`sk` of a checkpoint: below its own pending writes, above older checkpoints."""
    return f"{checkpoint_id}.0"


def write_sort_key(checkpoint_id: str) -> str:
    """`sk` of a pending write: just above its checkpoint."""
    return f"{checkpoint_id}.1"


def tombstone_sort_key(deleted_before: str) -> str:
    """`sk` of a tombstone: above everything written before the delete began."""
    return f"{deleted_before}.2"


def chunk_ttl(ttl: int) -> int:
    """TTL of a chunk item, so that it outlives the item it belongs to."""
    return ttl if ttl == -1 else ttl + CHUNK_TTL_MARGIN_SECONDS


def encode_payload(
    owner_id: str,
    owner: Item,
    typed: tuple[str, bytes],
    *,
    max_bytes: int,
    ttl: int,
    what: str,
    inline_chars: int = INLINE_CHARS,
) -> tuple[Item, list[Item]]:
    """Fields to merge into the owner item, and the chunk items to write before it.

    `owner` holds the owner's `thread_id`, `checkpoint_ns` and `checkpoint_id`, copied onto its
    chunks. Payloads over `inline_chars` (base64) go to chunks. Raises CheckpointTooLargeError
    when the payload, after compression, exceeds `max_bytes`.
    """
    type_, raw = typed
    encoding, data = "raw", raw
    if len(raw) >= COMPRESS_FROM_BYTES:
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            encoding, data = "zlib", packed
    if len(data) > max_bytes:
        raise CheckpointTooLargeError(
            f"The {what} of thread {owner['thread_id']!r} is {len(data)} bytes after "
            f"compression, over the limit of {max_bytes} bytes set by CHECKPOINT_MAX_BYTES. "
            "Raise CHECKPOINT_MAX_BYTES or keep less state in the thread."
        )
    text = base64.b64encode(data).decode("ascii")
    fields: Item = {"type": type_, "enc": encoding, "size": len(raw)}
    if len(text) <= inline_chars:
        fields["data"] = text
        fields["chunks"] = 0
        return fields, []
    pieces = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]
    fields["chunks"] = len(pieces)
    chunks = [
        {
            "id": chunk_item_id(owner_id, index),
            "thread_id": owner["thread_id"],
            "kind": "chunk",
            "checkpoint_ns": owner["checkpoint_ns"],
            "checkpoint_id": owner["checkpoint_id"],
            "owner": owner_id,
            "data": piece,
            "ttl": chunk_ttl(ttl),
        }
        for index, piece in enumerate(pieces)
    ]
    return fields, chunks


def decode_payload(item: Item, chunks: list[Item]) -> tuple[str, bytes]:
    """The `(type, bytes)` pair stored by `encode_payload` (chunks in index order)."""
    text = item["data"] if not item.get("chunks") else "".join(c["data"] for c in chunks)
    data = base64.b64decode(text)
    if item.get("enc") == "zlib":
        data = zlib.decompress(data)
    return str(item["type"]), data
