"""The run event log in the Cosmos DB thread store: items in the thread's partition, with a TTL.

Per run, one `run` item (`run.<run id>`: state, last event id, when last written) and one
`run_events` item per write (`ev.<run id>.<first event id>`: `first`, `last`, and the events as
one JSON array in `data`, a path the container does not index). A write is one transactional
batch in the thread's partition: the events item and the run item, both upserted, so a retried
write (the same first id, maybe more events) replaces what an earlier attempt stored. Writes
larger than a batch allows go as several events items, then the run item. Every item carries
`ttl` = `RUN_EVENTS_TTL_SECONDS`, counted from its last write; deleting the thread deletes them
with its other items. Reading is one query for the run item and the events items past an id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from agent.memory.cosmos_items import Item, id_part
from agent.memory.cosmos_requests import ContainerRequests
from agent.memory.runlog_events import RunEvent, RunInfo, RunState, event_size

# Events per item stay under this many characters of JSON, far below the 2 MB item limit; a
# write whose items together stay under it is one transactional batch.
ITEM_CHARS = 1_000_000


def run_item_id(run_id: str) -> str:
    return f"run.{id_part(run_id)}"


def cancel_item_id(run_id: str) -> str:
    return f"cancel.{id_part(run_id)}"


def events_item_id(run_id: str, first: int) -> str:
    return f"ev.{id_part(run_id)}.{first:010d}"


def _pack(events: Sequence[RunEvent]) -> list[list[RunEvent]]:
    """The events split into items of at most `ITEM_CHARS` (an event larger than that alone)."""
    items: list[list[RunEvent]] = []
    size = ITEM_CHARS
    for event in events:
        length = event_size(event)
        if size + length > ITEM_CHARS:
            items.append([])
            size = 0
        items[-1].append(event)
        size += length
    return items


class CosmosRunEvents:
    """`RunEventStore` on the threads container."""

    def __init__(self, requests: ContainerRequests, ttl_seconds: int) -> None:
        self.requests = requests
        self.ttl_seconds = ttl_seconds

    def _events_item(self, thread_id: str, run_id: str, events: Sequence[RunEvent]) -> Item:
        return {
            "id": events_item_id(run_id, events[0].id), "thread_id": thread_id,
            "kind": "run_events", "run_id": run_id, "first": events[0].id,
            "last": events[-1].id, "ttl": self.ttl_seconds,
            "data": json.dumps([[e.id, e.event, e.data] for e in events],
                               ensure_ascii=False, separators=(",", ":")),
        }

    async def write(self, thread_id: str, run_id: str, events: Sequence[RunEvent],
                    state: RunState) -> None:
        items = [self._events_item(thread_id, run_id, part) for part in _pack(events)]
        record: Item = {
            "id": run_item_id(run_id), "thread_id": thread_id, "kind": "run",
            "run_id": run_id, "state": state.value, "updated_at": time.time(),
            "last_event_id": max((e.id for e in events), default=0), "ttl": self.ttl_seconds,
        }
        if not events:  # a state change only: keep the last id stored before
            known = await self.info(thread_id, run_id)
            record["last_event_id"] = known.last_event_id if known is not None else 0
        if len(items) > 1:  # too large for one batch: the events first, the record last
            await self.requests.upsert_all(items)
            items = []
        await self.requests.write_batch(
            thread_id, [("upsert", item) for item in [*items, record]])

    @staticmethod
    def _info(thread_id: str, row: Item) -> RunInfo:
        return RunInfo(thread_id, str(row["run_id"]), RunState(row["state"]),
                       int(row["last_event_id"]), float(row["updated_at"]))

    async def info(self, thread_id: str, run_id: str) -> RunInfo | None:
        row = await self.requests.read(run_item_id(run_id), thread_id)
        return None if row is None else self._info(thread_id, row)

    async def request_cancel(self, thread_id: str, run_id: str) -> None:
        await self.requests.upsert({
            "id": cancel_item_id(run_id), "thread_id": thread_id, "kind": "run_cancel",
            "run_id": run_id, "ttl": self.ttl_seconds})

    async def cancel_requested(self, thread_id: str, run_id: str) -> bool:
        return await self.requests.read(cancel_item_id(run_id), thread_id) is not None

    async def read(self, thread_id: str, run_id: str, after: int
                   ) -> tuple[RunInfo | None, list[RunEvent]]:
        rows = await self.requests.all(thread_id, (
            "SELECT c.kind, c.run_id, c.state, c.last_event_id, c.updated_at, c.data FROM c "
            "WHERE c.thread_id = @thread_id AND c.run_id = @run_id AND (c.kind = 'run' "
            "OR (c.kind = 'run_events' AND c.last > @after))",
            {"thread_id": thread_id, "run_id": run_id, "after": after}))
        info = next((self._info(thread_id, r) for r in rows if r["kind"] == "run"), None)
        events: list[RunEvent] = []
        for row in rows:
            if row["kind"] == "run_events":
                packed: list[list[Any]] = json.loads(row["data"])
                events.extend(RunEvent(int(i), str(e), str(d)) for i, e, d in packed if i > after)
        return info, events
