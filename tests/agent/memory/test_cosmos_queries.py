"""Reading the latest-checkpoint query's rows (pure logic over an async row stream)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agent.memory.cosmos_queries import first_checkpoint_group, list_query


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


async def test_stops_at_the_first_row_of_an_older_checkpoint() -> None:
    rows = Rows([write("3", "a"), cp("3"), write("3", "b"), write("2", "x"), cp("2"), cp("1")])

    checkpoint, writes = await first_checkpoint_group(rows)

    assert checkpoint == cp("3")
    assert writes == [write("3", "a"), write("3", "b")]
    assert rows.taken == 4


async def test_skips_writes_of_a_checkpoint_never_saved() -> None:
    rows = Rows([write("9", "lost"), cp("3"), write("2", "x")])

    assert await first_checkpoint_group(rows) == (cp("3"), [])


async def test_empty_or_writes_only_means_no_checkpoint() -> None:
    assert await first_checkpoint_group(Rows([])) == (None, [])
    assert await first_checkpoint_group(Rows([write("1", "a")])) == (None, [])


def test_list_query_applies_scalar_filters_server_side_only() -> None:
    query, params, all_server_side = list_query(
        {"thread_id": "t", "checkpoint_ns": ""}, {"source": "loop"}, "5", 2
    )
    assert all_server_side and query.startswith("SELECT TOP 2 ")
    assert 'c.metadata["source"] = @f0' in query and "c.checkpoint_id < @before" in query
    assert params == {"thread_id": "t", "ns": "", "before": "5", "f0": "loop"}

    query, _, all_server_side = list_query(None, {"tags": ["x"]}, None, 2)
    assert not all_server_side and "TOP" not in query
    assert "WHERE c.kind = 'checkpoint' ORDER BY" in query  # across threads
