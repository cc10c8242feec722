"""Leases know their run: a store answers who holds a thread (run id, expiry), on every store.

So the HTTP layer can tell "run R is alive on some instance" (R holds the thread) from "the
instance running R died" (R's lease lapsed). Run on the in-process store, the SQLite file and
the Cosmos stand-in; and an SQLite file written before leases named their run still works.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.cosmos.aio import CosmosClient

from agent.memory.cosmos_leases import CosmosLeases
from agent.memory.leases import Holder, Lease, LeaseStore, LocalLeases, TurnGate
from agent.memory.sqlite import ThreadSqliteSaver
from standins.cosmos import CosmosEndpoint, create_container


@pytest.fixture(params=["local", "sqlite", "cosmos"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LeaseStore]:
    if request.param == "local":
        yield LocalLeases()
    elif request.param == "sqlite":
        async with ThreadSqliteSaver.open(tmp_path / "threads.sqlite") as saver:
            yield saver.leases
    else:
        cosmos: CosmosEndpoint = request.getfixturevalue("cosmos")  # a sync fixture
        async with CosmosClient(cosmos.url, credential=cosmos.key) as client:
            container = await create_container(client, "leases", uuid.uuid4().hex[:8])
            yield CosmosLeases(container)


async def current(store: LeaseStore, thread_id: str = "t") -> Holder:
    holder = await store.holder(thread_id)
    assert holder is not None
    return holder


async def test_the_holder_names_its_run_until_released(store: LeaseStore) -> None:
    assert await store.holder("t") is None
    lease = await store.acquire("t", "claim-1", 30, "run-1")
    assert isinstance(lease, Lease) and lease.run_id == "run-1"
    holder = await current(store)
    assert holder.run_id == "run-1" and 25 < holder.expires_at - time.time() <= 30
    assert await store.holder("other") is None
    assert isinstance(await store.acquire("t", "claim-2", 30, "run-2"), float)
    assert (await current(store)).run_id == "run-1"  # a refused claim changes nothing
    assert await store.renew(lease, 30)
    assert (await current(store)).run_id == "run-1"  # renewing keeps the run
    await store.release(lease)
    assert await store.holder("t") is None


async def test_a_lapsed_lease_has_no_holder_and_its_successor_names_its_own_run(
    store: LeaseStore,
) -> None:
    lapsed = await store.acquire("t", "claim-1", 0.0, "run-1")  # as if its instance died
    assert isinstance(lapsed, Lease)
    assert await store.holder("t") is None
    taken = await store.acquire("t", "claim-2", 30, "run-2")
    assert isinstance(taken, Lease)
    assert (await current(store)).run_id == "run-2"
    assert await store.renew(lapsed, 30) is False
    untagged = await store.acquire("u", "claim-3", 30)  # a delete takes no run
    assert isinstance(untagged, Lease) and (await current(store, "u")).run_id is None


async def test_a_claim_carries_its_run() -> None:
    store = LocalLeases()
    gate = TurnGate(store, policy="reject", wait_seconds=0, lease_seconds=30)
    claim = await gate.claim("t", "run-7")
    assert claim.run_id == "run-7" and (await current(store)).run_id == "run-7"
    async with claim:
        pass
    assert await store.holder("t") is None


async def test_an_older_sqlite_file_gets_the_run_column(tmp_path: Path) -> None:
    path = tmp_path / "threads.sqlite"
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE thread_leases (thread_id TEXT PRIMARY KEY, "
                    "owner TEXT NOT NULL, expires_at REAL NOT NULL)")
        old.execute("INSERT INTO thread_leases VALUES ('held', 'old-owner', ?)",
                    (time.time() + 30,))
    async with ThreadSqliteSaver.open(path) as saver:
        assert (await current(saver.leases, "held")).run_id is None
        assert isinstance(await saver.leases.acquire("held", "new", 30, "run-1"), float)
        lease = await saver.leases.acquire("t", "new", 30, "run-1")
        assert isinstance(lease, Lease) and (await current(saver.leases)).run_id == "run-1"
