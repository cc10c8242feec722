"""What a run event log holds (`agent.memory.runlog`): a run's events (`RunEvent`), its record
(`RunInfo`, `RunState`), why a followed run ended without its last event (`RunLost`), what
a store provides (`RunEventStore`), and what an event counts for in a write (`event_size`).
Stdlib only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

# How long a stored run and its events are kept (RUN_EVENTS_TTL_SECONDS' default).
DEFAULT_TTL_SECONDS = 3600
TERMINAL_EVENTS = {"end": "ended", "error": "failed"}
DIED = "the instance running it stopped before the run ended"
STOPPED = "the run was stopped before its end"
EVENT_OVERHEAD = 16  # characters counted per event besides its name and data


class RunState(StrEnum):
    """Where a run is: still running, ended with `end`, failed with `error`, or stopped
    without either (its stream was cancelled, or its writer gave up)."""

    RUNNING = "running"
    ENDED = "ended"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class RunEvent:
    """One SSE event of a run: its id (1, 2, 3, ... within the run), name and data."""

    id: int
    event: str
    data: str


def event_size(event: RunEvent) -> int:
    """What an event counts for when writes are batched and packed: its name, its data and
    `EVENT_OVERHEAD`."""
    return len(event.data) + len(event.event) + EVENT_OVERHEAD


@dataclass(frozen=True)
class RunInfo:
    """A run's record: its state, the id of its last stored event (0: none yet), and when it
    was last written (epoch seconds, the writer's clock)."""

    thread_id: str
    run_id: str
    state: RunState
    last_event_id: int
    updated_at: float


class RunLost(Exception):
    """A followed run will get no more events and has no terminal one: `reason` says why."""

    def __init__(self, run_id: str, reason: str) -> None:
        self.run_id = run_id
        self.reason = reason
        super().__init__(f"run {run_id}: {reason}")


class RunEventStore(Protocol):
    """Where a store keeps run events (SQLite, Cosmos DB)."""

    async def write(self, thread_id: str, run_id: str, events: Sequence[RunEvent],
                    state: RunState) -> None:
        """In one write: store `events` (ids increasing; an id stored before is kept once, so
        a retried write is harmless) and set the run's record to `state` and the last id."""
        ...

    async def read(self, thread_id: str, run_id: str, after: int
                   ) -> tuple[RunInfo | None, list[RunEvent]]:
        """The run's record and its stored events with an id over `after` (any order, maybe
        repeated; the caller sorts and drops repeats)."""
        ...

    async def info(self, thread_id: str, run_id: str) -> RunInfo | None:
        """The run's record; None when there is none (unknown, deleted or expired)."""
        ...

    async def request_cancel(self, thread_id: str, run_id: str) -> None:
        """Ask whichever instance runs the run to stop it."""
        ...

    async def cancel_requested(self, thread_id: str, run_id: str) -> bool:
        """Whether someone asked for the run to stop."""
        ...
