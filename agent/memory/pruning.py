"""Which checkpoints of a thread keep-latest pruning removes (the same rule for every store).

LangGraph's `prune(strategy="keep_latest")` keeps the latest checkpoint of each namespace. With a
`DeltaChannel` (the conversation's messages, see `agent.state`) the latest checkpoint alone is not
enough: it stores only the newest messages' writes, and reading it replays the writes of its
ancestors back to the nearest checkpoint that stores the whole channel (a snapshot). So this
keeps the latest checkpoint and its ancestors back to the nearest *base*, a checkpoint whose
metadata has no `counters_since_delta_snapshot` (every delta channel was snapshotted there, or the
graph has none), and removes every other checkpoint of the namespace with its pending writes.
For a graph without delta channels every checkpoint is a base: only the latest stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


def is_base(metadata: Mapping[str, Any] | None) -> bool:
    """Whether a checkpoint can be read without its ancestors (see the module docstring)."""
    return not (metadata or {}).get("counters_since_delta_snapshot")


@dataclass(frozen=True)
class CheckpointRow:
    """What pruning needs to know of one stored checkpoint."""

    ns: str
    checkpoint_id: str
    parent_id: str | None
    base: bool


def superseded(rows: Iterable[CheckpointRow]) -> dict[str, list[str]]:
    """Per namespace, the ids of the checkpoints keep-latest pruning removes."""
    by_ns: dict[str, dict[str, CheckpointRow]] = {}
    for row in rows:
        by_ns.setdefault(row.ns, {})[row.checkpoint_id] = row
    out: dict[str, list[str]] = {}
    for ns, by_id in by_ns.items():
        keep: set[str] = set()
        cursor: str | None = max(by_id)
        while cursor is not None and cursor in by_id and cursor not in keep:
            keep.add(cursor)
            row = by_id[cursor]
            cursor = None if row.base else row.parent_id
        drop = sorted(set(by_id) - keep)
        if drop:
            out[ns] = drop
    return out


class PrunableSaver(Protocol):
    """What `KeepLatestPruning` needs of the saver it is mixed into."""

    async def prune_thread(self, thread_id: str, only_ns: str | None = None) -> None:
        """Remove what keep-latest pruning drops from one thread (of one namespace)."""
        ...

    async def adelete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of one thread."""
        ...


class KeepLatestPruning:
    """LangGraph's `aprune` for a saver that prunes one thread at a time (`PrunableSaver`):
    `keep_latest` keeps each namespace's latest checkpoint (and the ancestors its delta
    channels are read from); `delete` deletes the threads."""

    async def aprune(self: PrunableSaver, thread_ids: Sequence[str], *,
                     strategy: str = "keep_latest") -> None:
        """Prune the threads (LangGraph's checkpointer `prune` interface)."""
        if strategy not in ("keep_latest", "delete"):
            raise ValueError(f"unknown prune strategy {strategy!r}: keep_latest or delete")
        for thread_id in thread_ids:
            if strategy == "delete":
                await self.adelete_thread(str(thread_id))
            else:
                await self.prune_thread(str(thread_id))
