"""Reading the latest-checkpoint query's rows, and building list queries (pure logic)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agent.memory.cosmos_queries import latest_group, list_query


class Rows:
    """An async row stream that records how many rows were taken from it."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for row in self.rows:
            self.taken += 1
            yield row


def cp(checkpoint_id: str) -> dict[str, Any]:
    return {"kind": "checkpoint", "checkpoint_id": checkpoint_id}


def write(checkpoint_id: str, task: str) -> dict[str, Any]:
    return {"kind": "write", "checkpoint_id": checkpoint_id, "task_id": task}


TOMBSTONE = {"kind": "tombstone", "checkpoint_id": "5"}


async def test_stops_at_the_first_checkpoint_row() -> None:
    # Sorted by `sk`, newest first: a checkpoint's writes sit right above it.
    rows = Rows([write("3", "a"), write("3", "b"), cp("3"), write("2", "x"), cp("2")])

    checkpoint, writes = await latest_group(rows)

    assert checkpoint == cp("3")
    assert writes == [write("3", "a"), write("3", "b")]
    assert rows.taken == 3  # nothing of the older checkpoint is read


async def test_skips_writes_of_a_checkpoint_never_saved() -> None:
    rows = Rows([write("9", "lost"), cp("3"), write("2", "x")])

    assert await latest_group(rows) == (cp("3"), [])


async def test_a_tombstone_hides_everything_older() -> None:
    assert await latest_group(Rows([TOMBSTONE, cp("3")])) == (None, [])
    assert await latest_group(Rows([cp("7"), TOMBSTONE, cp("3")])) == (cp("7"), [])


async def test_empty_or_writes_only_means_no_checkpoint() -> None:
    assert await latest_group(Rows([])) == (None, [])
    assert await latest_group(Rows([write("1", "a")])) == (None, [])


def test_list_query_applies_scalar_filters_server_side_only() -> None:
    query, params, all_server_side = list_query(
        {"thread_id": "t", "checkpoint_ns": ""}, {"source": "loop", "k": None}, "5", 2, "1"
    )
    assert all_server_side and query.startswith("SELECT TOP 2 ")
    assert 'c.metadata["source"] = @f0' in query and "c.checkpoint_id < @before" in query
    assert '(NOT IS_DEFINED(c.metadata["k"]) OR IS_NULL(c.metadata["k"]))' in query
    assert "c.checkpoint_id > @deleted" in query
    assert params == {"thread_id": "t", "ns": "", "before": "5", "f0": "loop", "deleted": "1"}

    query, _, all_server_side = list_query(None, {"tags": ["x"]}, None, 2)
    assert not all_server_side and "TOP" not in query
    assert "WHERE c.kind = 'checkpoint' ORDER BY" in query  # across threads
