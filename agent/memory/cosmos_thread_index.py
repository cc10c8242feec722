"""The thread index (`agent.memory.thread_index`) in the Cosmos DB threads container.

A thread's summary is an item in its owner's own partition, `owners/<sha-256 of the owner
key>` (a `/` no thread id can hold, so no thread's partition is ever an owner's), with
`id` = the thread id: reading one is a point read, and listing a user's threads is a query of
that one partition, whatever the number of other users' threads. Feedback items live in the
thread's own partition (`id` = `feedback~<run id>`), so deleting the thread deletes them.
Every item carries the threads' `ttl`: a summary is rewritten at each turn, so it lasts as long
as its thread.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import CosmosResourceNotFoundError

from agent.memory.thread_index import (
    Feedback,
    ThreadSummary,
    decode_cursor,
    encode_cursor,
    title_of,
)

SUMMARY = "thread_summary"
FEEDBACK = "feedback"


def owner_partition(owner: str | None) -> str:
    """The partition of an owner's thread summaries (threads of nobody share one)."""
    digest = hashlib.sha256((owner or "").encode("utf-8")).hexdigest()
    return f"owners/{digest}"


def _summary(item: dict[str, Any]) -> ThreadSummary:
    return ThreadSummary(item["id"], item["title"], float(item["created_at"]),
                         float(item["updated_at"]))


class CosmosThreadIndex:
    """`ThreadIndex` in the threads container (see the module docstring)."""

    def __init__(self, container: ContainerProxy, item_ttl: int) -> None:
        self.container = container
        self.item_ttl = item_ttl

    async def _read(self, thread_id: str, owner: str | None) -> dict[str, Any] | None:
        try:
            item: dict[str, Any] = await self.container.read_item(
                thread_id, partition_key=owner_partition(owner))
        except CosmosResourceNotFoundError:
            return None
        return item

    async def touch(self, thread_id: str, owner: str | None, question: str,
                    now: float) -> None:
        """Record a turn: a new thread is titled by its first question."""
        item = await self._read(thread_id, owner) or {
            "id": thread_id, "thread_id": owner_partition(owner), "kind": SUMMARY,
            "owner": owner, "title": title_of(question), "created_at": now}
        item.update(updated_at=now, ttl=self.item_ttl)
        await self.container.upsert_item(_plain(item), no_response=True)

    async def get(self, thread_id: str, owner: str | None) -> ThreadSummary | None:
        """The thread's summary (None if it has none)."""
        item = await self._read(thread_id, owner)
        return _summary(item) if item else None

    async def rename(self, thread_id: str, owner: str | None, title: str) -> None:
        """Set the thread's title."""
        item = await self._read(thread_id, owner)
        if item is not None:
            item["title"] = title
            await self.container.upsert_item(_plain(item), no_response=True)

    async def page(self, owner: str, limit: int, cursor: str | None
                   ) -> tuple[list[ThreadSummary], str | None]:
        """Up to `limit` of the owner's threads, newest first, after `cursor`: one query of
        the owner's partition."""
        before, skip = decode_cursor(cursor) if cursor else (None, set())
        condition = "" if before is None else " AND c.updated_at <= @before"
        top = int(limit + len(skip) + 1)
        partition = owner_partition(owner)
        query = (f"SELECT TOP {top} c.id, c.title, c.created_at, c.updated_at FROM c "
                 f"WHERE c.thread_id = @partition AND c.kind = '{SUMMARY}'{condition} "
                 "ORDER BY c.updated_at DESC")
        parameters: list[dict[str, Any]] = [{"name": "@partition", "value": partition}]
        if before is not None:
            parameters.append({"name": "@before", "value": before})
        items = self.container.query_items(query, parameters=parameters,
                                           partition_key=partition)
        found = [_summary(item) async for item in items if item["id"] not in skip]
        page = found[:limit]
        return page, encode_cursor(page) if len(found) > limit else None

    async def forget(self, thread_id: str, owner: str | None) -> None:
        """Drop the thread's summary (its feedback went with the thread's partition)."""
        with contextlib.suppress(CosmosResourceNotFoundError):
            await self.container.delete_item(thread_id, partition_key=owner_partition(owner))

    async def put_feedback(self, thread_id: str, feedback: Feedback) -> None:
        """Record (or replace) the feedback on one answer."""
        await self.container.upsert_item({
            "id": f"feedback~{feedback.run_id}", "thread_id": thread_id, "kind": FEEDBACK,
            "run_id": feedback.run_id, "score": feedback.score, "comment": feedback.comment,
            "at": feedback.at, "ttl": self.item_ttl}, no_response=True)

    async def feedback(self, thread_id: str) -> dict[str, Feedback]:
        """The feedback on the thread's answers, by run id."""
        items = self.container.query_items(
            "SELECT c.run_id, c.score, c.comment, c.at FROM c WHERE c.thread_id = @thread_id "
            f"AND c.kind = '{FEEDBACK}'", parameters=[{"name": "@thread_id", "value": thread_id}],
            partition_key=thread_id)
        return {item["run_id"]: Feedback(item["run_id"], item["score"], item["comment"],
                                         float(item["at"])) async for item in items}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """The item without the service's system properties (`_rid`, `_etag`, ...)."""
    return {k: v for k, v in item.items() if not k.startswith("_")}
