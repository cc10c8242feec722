"""Who a thread belongs to: the owner recorded with each of its checkpoints.

Every turn run for a signed-in user records that user's key (`Owner.key`, which the HTTP layer
derives from the identity provider's claims: `owner_key` encodes its parts as a JSON array, so
no part can pose as two) as `owner` in the run config's metadata; LangGraph copies it into
the metadata of the checkpoint the turn saves, in SQLite and in Cosmos DB alike. The thread's
owner is the owner of its latest checkpoint. A thread is created by its first turn, so it
belongs to the user who created it, and a turn is only run for that user, so it stays theirs.

This module imports nothing heavy: the HTTP layer maps `ThreadNotFound` to 404.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OWNER_KEY = "owner"


def owner_key(*parts: str) -> str:
    """The key of a user identified by these parts (provider, tenant, id): a JSON array, so
    `("aad", "t1/oid-A")` and `("aad", "t1", "oid-A")` can never be the same key."""
    return json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Owner:
    """A signed-in user as the thread store knows them: `key`, recorded with each checkpoint
    of their threads, and `aliases`, the keys earlier versions recorded for the same user
    (read, never written: a thread saved under an alias is the user's, and its next turn
    records `key`)."""

    key: str
    aliases: tuple[str, ...] = ()

    def recorded(self, value: str | None) -> bool:
        """Whether a recorded owner value is this user."""
        return value is not None and (value == self.key or value in self.aliases)


class ThreadNotFound(LookupError):
    """No thread with this id belongs to the caller (none exists, or another user's)."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"No thread with thread_id {thread_id!r}.")
        self.thread_id = thread_id


def owner_of(metadata: Mapping[str, Any] | None) -> str | None:
    """The owner recorded in a checkpoint's metadata (None: a thread of no signed-in user)."""
    value = (metadata or {}).get(OWNER_KEY)
    return value if isinstance(value, str) and value else None


def may_use(metadata: Mapping[str, Any] | None, owner: Owner | None) -> bool:
    """Whether `owner` may use the thread whose latest checkpoint has this metadata.

    `owner` None means nobody is signed in (AUTH_MODE=none): every thread is usable. A signed-in
    user may use only threads recorded as theirs; threads saved without an owner (before
    Easy Auth was turned on) belong to nobody and stay out of reach.
    """
    return owner is None or owner.recorded(owner_of(metadata))
