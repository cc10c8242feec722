"""Thread memory: the LangGraph checkpointer the settings select.

Azure Cosmos DB when `AZURE_COSMOSDB_ENDPOINT` is set (`agent.memory.cosmos`), otherwise
SQLite in the data folder (`langgraph-checkpoint-sqlite`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from agent.settings import Settings


@asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Open the configured checkpointer for the life of the process; closes it on exit."""
    if settings.thread_store == "cosmos":
        from agent.memory.cosmos import CosmosSaver

        async with CosmosSaver.from_settings(settings) as saver:
            yield saver
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "threads.sqlite"
    async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
        await saver.setup()
        yield saver
