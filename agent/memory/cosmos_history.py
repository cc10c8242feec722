"""A delta channel's history in the Cosmos DB thread store (`aget_delta_channel_history`).

A `DeltaChannel` (the conversation's messages) is read from the writes along a checkpoint's
ancestors, back to the nearest checkpoint that stores the whole channel (its seed). Here that
costs one query for the namespace's checkpoint ids, parents and stored channels (no payloads),
then, at once, one query for the writes needed and point reads of the seed checkpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from langgraph.checkpoint.base import DeltaChannelHistory

from agent.memory import cosmos_queries as queries
from agent.memory.cosmos_items import checkpoint_item_id
from agent.memory.cosmos_payloads import Payloads, PendingWrites
from agent.memory.cosmos_requests import ContainerRequests, Items


def _empty(channels: Sequence[str]) -> dict[str, DeltaChannelHistory]:
    return {ch: {"writes": []} for ch in channels}


async def delta_channel_history(
    requests: ContainerRequests, payloads: Payloads, thread_id: str, ns: str, target: str,
    channels: Sequence[str],
) -> Mapping[str, DeltaChannelHistory] | None:
    """The history of `channels` as of checkpoint `target` (its own writes excluded, as
    LangGraph's walk does); None when the chain was saved by an older version of the saver
    (no `stored` field): the caller then uses LangGraph's generic walk."""
    by_id = {r["checkpoint_id"]: r for r in await requests.all(
        thread_id, queries.chain_query(thread_id, ns))}
    if target not in by_id:
        return _empty(channels)
    chain: dict[str, list[str]] = {ch: [] for ch in channels}
    seeds: dict[str, str] = {}
    remaining, seen = set(channels), set()
    cursor: str | None = by_id[target].get("parent_checkpoint_id")
    while cursor is not None and cursor in by_id and remaining and cursor not in seen:
        row = by_id[cursor]
        if row.get("stored") is None:
            return None
        seen.add(cursor)
        for ch in list(remaining):
            chain[ch].append(cursor)
            if ch in row["stored"]:
                seeds[ch] = cursor
                remaining.discard(ch)
        cursor = row.get("parent_checkpoint_id")
    ids = sorted({cid for ids in chain.values() for cid in ids})
    if not ids:
        return _empty(channels)
    seed_ids = sorted(set(seeds.values()))
    rows, seed_rows = await asyncio.gather(
        requests.all(thread_id, queries.history_query(thread_id, ns, ids, list(channels))),
        asyncio.gather(*(requests.read(checkpoint_item_id(ns, cid), thread_id)
                         for cid in seed_ids)))
    seed_values = {cid: await payloads.load(row)
                   for cid, row in zip(seed_ids, seed_rows, strict=True) if row is not None}
    writes: dict[str, Items] = {}
    for r in rows:
        writes.setdefault(r["checkpoint_id"], []).append(r)
    result: dict[str, DeltaChannelHistory] = {}
    for ch in channels:
        collected: PendingWrites = []
        for cid in reversed(chain[ch]):
            mine = [w for w in writes.get(cid, []) if w["channel"] == ch]
            collected.extend(await payloads.pending(mine))
        entry: DeltaChannelHistory = {"writes": collected}
        if ch in seeds and seeds[ch] in seed_values:
            entry["seed"] = seed_values[seeds[ch]]["channel_values"][ch]
        result[ch] = entry
    return result
