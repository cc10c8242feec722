"""Connecting to the Cosmos DB account that holds the threads container.

One `azure.cosmos.aio.CosmosClient` per process, authenticated with `DefaultAzureCredential`
(managed identity in Azure) unless an account key is configured, and closed (with its
credential) on exit. In Azure, infrastructure creates the database and container and the app
identity has data-plane rights only; `AZURE_COSMOSDB_CREATE_IF_MISSING` lets a local run create
them, laid out as production expects.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy

if TYPE_CHECKING:
    from agent.settings import Settings

PARTITION_KEY_PATH = "/thread_id"

# Indexing policy of the threads container: payloads are never queried.
INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": "/data/?"}, {"path": '/"_etag"/?'}],
}


async def create_threads_container(database: DatabaseProxy, container_id: str) -> ContainerProxy:
    """Create (if missing) the container: partition key `/thread_id`, default TTL on (-1)."""
    return await database.create_container_if_not_exists(
        id=container_id,
        partition_key=PartitionKey(path=PARTITION_KEY_PATH),
        default_ttl=-1,
        indexing_policy=INDEXING_POLICY,
    )


@asynccontextmanager
async def open_container(settings: Settings) -> AsyncIterator[ContainerProxy]:
    """The configured threads container, on a client closed when the block exits."""
    from azure.identity.aio import DefaultAzureCredential

    key = settings.azure_cosmosdb_key
    aad = DefaultAzureCredential() if key is None else None
    credential: Any = key.get_secret_value() if key is not None else aad
    client = CosmosClient(settings.azure_cosmosdb_endpoint, credential=credential)
    try:
        if settings.azure_cosmosdb_create_if_missing:
            database = await client.create_database_if_not_exists(
                settings.azure_cosmosdb_database
            )
            container = await create_threads_container(
                database, settings.azure_cosmosdb_container
            )
        else:
            container = client.get_database_client(
                settings.azure_cosmosdb_database
            ).get_container_client(settings.azure_cosmosdb_container)
        yield container
    finally:
        await client.close()
        if aad is not None:
            await aad.close()
