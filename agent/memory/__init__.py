"""Thread memory: the LangGraph checkpointer the settings select.

Azure Cosmos DB when `AZURE_COSMOSDB_ENDPOINT` is set (`agent.memory.cosmos`), otherwise
SQLite in the data folder (`agent.memory.sqlite`, on `langgraph-checkpoint-sqlite`). Both prune
superseded checkpoints and carry the thread leases (`.leases`, `agent.memory.leases`) that let
one turn at a time run on a thread across processes, and the run event log (`.runs`,
`agent.memory.runlog`) from which any process can rejoin a streamed run. `open_thread_index`
opens the thread index (titles, times, feedback: `agent.memory.thread_index`) beside the
checkpoints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # this package is imported by the HTTP layer: nothing heavy at import
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from agent.memory.thread_index import ThreadIndex
    from agent.settings import Settings


@asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Open the configured checkpointer for the life of the process; closes it on exit."""
    if settings.thread_store == "cosmos":
        from agent.memory.cosmos import CosmosSaver

        async with CosmosSaver.from_settings(settings) as saver:
            yield saver
        return
    from agent.memory.sqlite import ThreadSqliteSaver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with ThreadSqliteSaver.open(
        settings.data_dir / "threads.sqlite",
        run_events_ttl_seconds=settings.run_events_ttl_seconds,
    ) as sqlite_saver:
        yield sqlite_saver


@asynccontextmanager
async def open_thread_index(settings: Settings, checkpointer: Any
                            ) -> AsyncIterator[ThreadIndex]:
    """The thread index of the configured store: beside `checkpointer`'s checkpoints (its
    Cosmos DB container, or a connection of its own to the SQLite file)."""
    if settings.thread_store == "cosmos":
        from agent.memory.cosmos_thread_index import CosmosThreadIndex

        yield CosmosThreadIndex(checkpointer.requests, checkpointer.item_ttl)
        return
    from agent.memory.thread_index import SqliteThreadIndex

    async with SqliteThreadIndex.open(settings.data_dir / "threads.sqlite") as index:
        yield index
