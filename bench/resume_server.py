"""Our dev server with a switch for the run event log and counters of its writes (item 7).

    python -m bench.resume_server      (settings, HOST and PORT from the environment, as
                                        `python -m api`)

It serves exactly what `python -m api` serves (`api.app.create_app()` on uvicorn, same options),
plus one bench-only route:

- `GET /_bench/runlog`: `{"on", "writes", "events", "row_bytes", "write_seconds",
  "failed_writes"}` since start: the run event log's store writes (each one `RunEventStore.write`:
  one SQLite transaction, or one Cosmos DB transactional batch), the events they carried, the
  bytes of the values they store (per event: thread id, run id, an 8-byte id, event name, data;
  per write the run record: thread id, run id, state, 8-byte last id and time) and the time
  spent in them;
- `POST /_bench/runlog` `{"on": false}`: from now on, `/stream` hands its events to no recorder
  (`api.handlers` calls `api.streaming.sse_stream` with `recorder=None`), so nothing of a run is
  stored: the server as it was before resumable streams, for the comparison. `{"on": true}`
  switches it back. No app setting does this; it exists only here.

The counters wrap the two stores' `write` (`SqliteRunEvents`, `CosmosRunEvents`) in this
process; nothing else of the app is changed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.memory.cosmos_runlog import CosmosRunEvents
from agent.memory.runlog_events import RunEvent, RunState
from agent.memory.runlog_sqlite import SqliteRunEvents
from api import handlers
from api.app import create_app
from api.devserver import serve

_ID_BYTES = 8  # an INTEGER id, a REAL time: 8 bytes each as stored

Write = Callable[[Any, str, str, Sequence[RunEvent], RunState], Awaitable[None]]


class RunLogMeter:
    """The switch and the counters."""

    def __init__(self) -> None:
        self.on = True
        self.writes = 0
        self.failed_writes = 0
        self.events = 0
        self.row_bytes = 0
        self.write_seconds = 0.0

    def counters(self) -> dict[str, Any]:
        """Everything counted so far, and the switch."""
        return {"on": self.on, "writes": self.writes, "events": self.events,
                "row_bytes": self.row_bytes, "write_seconds": round(self.write_seconds, 6),
                "failed_writes": self.failed_writes}

    def metered(self, write: Write) -> Write:
        """`write`, counted."""

        async def counted(store: Any, thread_id: str, run_id: str, events: Sequence[RunEvent],
                          state: RunState) -> None:
            started = time.perf_counter()
            try:
                await write(store, thread_id, run_id, events, state)
            except BaseException:
                self.failed_writes += 1
                raise
            finally:
                self.write_seconds += time.perf_counter() - started
            ids = len(thread_id.encode()) + len(run_id.encode())
            self.writes += 1
            self.events += len(events)
            self.row_bytes += ids + len(state.value) + 2 * _ID_BYTES + sum(
                ids + _ID_BYTES + len(e.event.encode()) + len(e.data.encode()) for e in events)

        return counted


METER = RunLogMeter()
SqliteRunEvents.write = METER.metered(SqliteRunEvents.write)  # type: ignore[method-assign]
CosmosRunEvents.write = METER.metered(CosmosRunEvents.write)  # type: ignore[method-assign]
_sse_stream = handlers.sse_stream


def _switched_sse_stream(*args: Any, recorder: Any = None, **kwargs: Any) -> Any:
    return _sse_stream(*args, recorder=recorder if METER.on else None, **kwargs)


handlers.sse_stream = _switched_sse_stream  # type: ignore[assignment]


async def runlog(request: Request) -> Response:
    """GET: the counters; POST `{"on": bool}`: switch the log, then the counters."""
    if request.method == "POST":
        METER.on = bool((await request.json())["on"])
    return JSONResponse(METER.counters())


def main() -> None:
    """Serve as `python -m api` does, with the bench route first."""
    app = create_app()
    app.router.routes.insert(0, Route("/_bench/runlog", runlog, methods=["GET", "POST"]))
    serve(app)


if __name__ == "__main__":
    main()
