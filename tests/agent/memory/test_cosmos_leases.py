"""Thread leases in a Cosmos container (against the stand-in, which enforces TTL)."""

from __future__ import annotations

import uuid

from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient

from agent.memory.cosmos_leases import CosmosLeases
from agent.memory.leases import Lease
from standins.cosmos import CosmosEndpoint


async def test_one_holder_at_a_time_renewed_and_released(container: ContainerProxy) -> None:
    leases = CosmosLeases(container)
    held = await leases.acquire("t", "first", 30)
    assert isinstance(held, Lease)
    busy = await leases.acquire("t", "second", 30)
    assert isinstance(busy, float) and 25 < busy <= 30
    assert isinstance(await leases.acquire("other", "second", 30), Lease)

    etag = held.token
    assert await leases.renew(held, 30) and held.token != etag
    assert await leases.renew(Lease("t", "second", etag), 30) is False  # not its lease
    await leases.release(Lease("t", "second", etag))  # not its lease: no effect
    assert isinstance(await leases.acquire("t", "second", 30), float)

    await leases.release(held)
    assert isinstance(await leases.acquire("t", "second", 30), Lease)


async def test_a_crashed_holders_lease_expires_by_ttl(
    cosmos: CosmosEndpoint, container: ContainerProxy
) -> None:
    leases = CosmosLeases(container)
    crashed = await leases.acquire("t", "crashed", 30)
    assert isinstance(crashed, Lease)
    lease_item = await container.read_item("lease", partition_key="t")
    assert lease_item["ttl"] == 30

    cosmos.advance_clock(31)  # the service removes the lease item

    taken = await leases.acquire("t", "next", 30)
    assert isinstance(taken, Lease)
    assert await leases.renew(crashed, 30) is False


async def test_an_expired_lease_is_taken_over_without_ttl(cosmos: CosmosEndpoint) -> None:
    # A container with TTL off keeps the item; its `expires_at` still lets a new holder in.
    async with CosmosClient(cosmos.url, credential=cosmos.key) as client:
        database = await client.create_database_if_not_exists("leases")
        container = await database.create_container(
            id=f"no-ttl-{uuid.uuid4().hex[:6]}", partition_key=PartitionKey(path="/thread_id"))
        leases = CosmosLeases(container)
        stale = await leases.acquire("t", "crashed", 0.0)
        assert isinstance(stale, Lease)

        taken = await leases.acquire("t", "next", 30)

        assert isinstance(taken, Lease)
        assert (await container.read_item("lease", partition_key="t"))["owner"] == "next"
        assert await leases.renew(stale, 30) is False
