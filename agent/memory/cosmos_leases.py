"""Thread leases in the Cosmos DB container: one `lease` item in each thread's partition.

Taking a lease creates the item (the service refuses a second create: 409); the holder renews it
by replacing it with `If-Match` on its ETag and releases it by deleting it the same way, so a
holder that lost the lease can neither renew nor delete someone else's. The item carries
`ttl` = the lease length, so the service removes a crashed holder's lease; `expires_at` lets
another instance take over an expired lease even where the container has TTL off or the
service has not removed the item yet (instances' clocks are NTP-synchronised in Azure). A
create or replace whose response was lost and retried by the SDK is recognised by the owner.
The item names the run the lease was taken for (`run_id`), so `holder` answers which run holds
the thread with one point read.
"""

from __future__ import annotations

import math
import time
from typing import Any

from azure.core import MatchConditions
from azure.cosmos.aio import ContainerProxy
from azure.cosmos.exceptions import (
    CosmosAccessConditionFailedError,
    CosmosResourceExistsError,
    CosmosResourceNotFoundError,
)

from agent.memory.cosmos_items import LEASE_ID, Item
from agent.memory.leases import Holder, Lease


class CosmosLeases:
    """`LeaseStore` on a threads container."""

    def __init__(self, container: ContainerProxy) -> None:
        self.container = container

    def _item(self, thread_id: str, owner: str, seconds: float, run_id: str | None) -> Item:
        return {"id": LEASE_ID, "thread_id": thread_id, "kind": "lease", "owner": owner,
                "run_id": run_id, "expires_at": time.time() + seconds,
                "ttl": max(1, math.ceil(seconds))}

    async def _read(self, thread_id: str) -> dict[str, Any] | None:
        try:
            return dict(await self.container.read_item(LEASE_ID, partition_key=thread_id))
        except CosmosResourceNotFoundError:
            return None

    async def _replace(self, item: Item, etag: str) -> str | None:
        """Replace the lease if it is still at `etag`: the new ETag, or None."""
        try:
            done = await self.container.replace_item(
                LEASE_ID, item, etag=etag, match_condition=MatchConditions.IfNotModified)
        except (CosmosAccessConditionFailedError, CosmosResourceNotFoundError):
            return None
        return str(done["_etag"])

    async def acquire(self, thread_id: str, owner: str, seconds: float,
                      run_id: str | None = None) -> Lease | float:
        item = self._item(thread_id, owner, seconds, run_id)
        for _ in range(2):
            try:
                created = await self.container.create_item(item)
                return Lease(thread_id, owner, str(created["_etag"]), run_id)
            except CosmosResourceExistsError:
                current = await self._read(thread_id)
            if current is None:
                continue  # expired and hidden, not yet removed: try once more
            if current.get("owner") == owner:  # our create went through; its answer was lost
                return Lease(thread_id, owner, str(current["_etag"]), run_id)
            left = float(current.get("expires_at", 0)) - time.time()
            if left > 0:
                return left
            etag = await self._replace(item, str(current["_etag"]))
            if etag is not None:
                return Lease(thread_id, owner, etag, run_id)
            return 1.0
        return 1.0

    async def renew(self, lease: Lease, seconds: float) -> bool:
        etag = await self._replace(
            self._item(lease.thread_id, lease.owner, seconds, lease.run_id), str(lease.token))
        if etag is None:
            current = await self._read(lease.thread_id)
            if current is None or current.get("owner") != lease.owner:
                return False
            etag = str(current["_etag"])  # a retried renewal that had gone through
        lease.token = etag
        return True

    async def release(self, lease: Lease) -> None:
        for _ in range(2):
            try:
                await self.container.delete_item(
                    LEASE_ID, partition_key=lease.thread_id, etag=str(lease.token),
                    match_condition=MatchConditions.IfNotModified)
                return
            except CosmosResourceNotFoundError:
                return
            except CosmosAccessConditionFailedError:
                current = await self._read(lease.thread_id)
                if current is None or current.get("owner") != lease.owner:
                    return
                lease.token = current["_etag"]

    async def holder(self, thread_id: str) -> Holder | None:
        current = await self._read(thread_id)
        if current is None or float(current.get("expires_at", 0)) <= time.time():
            return None
        run_id = current.get("run_id")
        return Holder(str(run_id) if run_id is not None else None,
                      float(current["expires_at"]))
