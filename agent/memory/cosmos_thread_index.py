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

import hashlib
from typing import Any

from agent.memory.cosmos_requests import ContainerRequests
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

    def __init__(self, requests: ContainerRequests, item_ttl: int) -> None:
        self.requests = requests
        self.item_ttl = item_ttl

    async def touch(self, thread_id: str, owner: str | None, question: str,
                    now: float) -> None:
        """Record a turn: a new thread is titled by its first question."""
        partition = owner_partition(owner)
        item = await self.requests.read(thread_id, partition) or {
            "id": thread_id, "thread_id": partition, "kind": SUMMARY,
            "owner": owner, "title": title_of(question), "created_at": now}
        item.update(updated_at=now, ttl=self.item_ttl)
        await self.requests.upsert(_plain(item))

    async def get(self, thread_id: str, owner: str | None) -> ThreadSummary | None:
        """The thread's summary (None if it has none)."""
        item = await self.requests.read(thread_id, owner_partition(owner))
        return _summary(item) if item else None

    async def rename(self, thread_id: str, owner: str | None, title: str) -> None:
        """Set the thread's title."""
        item = await self.requests.read(thread_id, owner_partition(owner))
        if item is not None:
            item["title"] = title
            await self.requests.upsert(_plain(item))

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
        params: dict[str, Any] = {"partition": partition}
        if before is not None:
            params["before"] = before
        rows = await self.requests.all(partition, (query, params))
        found = [_summary(item) for item in rows if item["id"] not in skip]
        page = found[:limit]
        return page, encode_cursor(page) if len(found) > limit else None

    async def forget(self, thread_id: str, owner: str | None) -> None:
        """Drop the thread's summary (its feedback went with the thread's partition)."""
        await self.requests.delete(thread_id, owner_partition(owner))

    async def put_feedback(self, thread_id: str, feedback: Feedback) -> None:
        """Record (or replace) the feedback on one answer."""
        await self.requests.upsert({
            "id": f"feedback~{feedback.run_id}", "thread_id": thread_id, "kind": FEEDBACK,
            "run_id": feedback.run_id, "score": feedback.score, "comment": feedback.comment,
            "at": feedback.at, "ttl": self.item_ttl})

    async def feedback(self, thread_id: str) -> dict[str, Feedback]:
        """The feedback on the thread's answers, by run id."""
        rows = await self.requests.all(thread_id, (
            "SELECT c.run_id, c.score, c.comment, c.at FROM c WHERE c.thread_id = @thread_id "
            f"AND c.kind = '{FEEDBACK}'", {"thread_id": thread_id}))
        return {item["run_id"]: Feedback(item["run_id"], item["score"], item["comment"],
                                         float(item["at"])) for item in rows}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """The item without the service's system properties (`_rid`, `_etag`, ...)."""
    return {k: v for k, v in item.items() if not k.startswith("_")}
