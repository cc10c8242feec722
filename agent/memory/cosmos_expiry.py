"""When a Cosmos DB thread expires, and how an active thread stays alive (docs: "Expiry").

Items live 1.5 × the thread TTL (`item_ttl`), counted by the service from each item's last
write. With a delta channel an item is written once, so a thread's history starts at its *base*
checkpoint (`base_at`: when that base was written). A thread is shown until its base is
`item_ttl` old, less a margin; a turn that starts on a thread whose base is older than half the
TTL re-snapshots it (the next checkpoint is a new base), so an active thread never loses
history and an idle one disappears as a whole between the TTL and 1.5 × that.

The `base_at` of recently seen checkpoints is remembered in a bounded LRU cache (`cachetools`)
so that saving a checkpoint seldom needs a query for its parent's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cachetools import LRUCache

from agent.memory import cosmos_queries as queries
from agent.memory.cosmos_items import Item
from agent.memory.cosmos_requests import ContainerRequests

# Checkpoints whose base time is remembered (per process, least recently used dropped first).
REMEMBERED_CHECKPOINTS = 10_000
# Counter value that makes LangGraph snapshot a delta channel at the next checkpoint.
_SNAPSHOT_NOW = 1_000_000_000

CheckpointKey = tuple[str, str, str]  # thread id, namespace, checkpoint id


class ThreadExpiry:
    """The expiry rules of one store: `ttl_seconds` -1 (never) or positive."""

    def __init__(self, ttl_seconds: int, clock: Callable[[], float] = time.time) -> None:
        if ttl_seconds == 0 or ttl_seconds < -1:
            raise ValueError("ttl_seconds must be -1 (never expire) or a positive number")
        self.ttl = ttl_seconds
        self.clock = clock
        self.item_ttl = -1 if ttl_seconds == -1 else ttl_seconds + ttl_seconds // 2
        self.margin = 0 if ttl_seconds == -1 else min(3600, self.item_ttl // 10)
        self.base_at: LRUCache[CheckpointKey, float] = LRUCache(maxsize=REMEMBERED_CHECKPOINTS)

    def remember(self, thread_id: str, ns: str, checkpoint_id: str, base_at: float) -> None:
        self.base_at[(thread_id, ns, checkpoint_id)] = base_at

    def base_age(self, row: Item) -> float:
        """Seconds since the checkpoint's base was written; 0 when unknown or when threads
        never expire."""
        base_at = row.get("base_at")
        if self.ttl == -1 or not isinstance(base_at, int | float):
            return 0.0
        self.remember(row["thread_id"], row["checkpoint_ns"], row["checkpoint_id"], base_at)
        return self.clock() - base_at

    def expired(self, row: Item) -> bool:
        """The thread's base is about to expire: the thread counts as gone (its items follow)."""
        return self.ttl != -1 and self.base_age(row) >= self.item_ttl - self.margin

    def metadata_for_reading(self, row: Item) -> dict[str, Any]:
        """The checkpoint's metadata as LangGraph should see it: when the history it is read
        from is getting old, its delta channels are claimed due for a snapshot, so the next
        checkpoint LangGraph saves is a new base and older items can expire without taking
        the conversation along."""
        metadata = dict(row.get("metadata") or {})
        counters = metadata.get("counters_since_delta_snapshot")
        if counters and self.ttl != -1 and self.base_age(row) > self.ttl / 2:
            metadata["counters_since_delta_snapshot"] = {
                channel: [_SNAPSHOT_NOW, _SNAPSHOT_NOW] for channel in counters}
        return metadata

    async def parent_base_at(self, requests: ContainerRequests, thread_id: str, ns: str,
                             parent: str) -> float:
        """When the parent's base was written (remembered from reading it, else queried)."""
        known = self.base_at.get((thread_id, ns, parent))
        if known is not None:
            return known
        rows = await requests.all(thread_id, queries.base_at_query(thread_id, ns, parent))
        found = rows[0].get("base_at") if rows else None
        return float(found) if isinstance(found, int | float) else self.clock()
