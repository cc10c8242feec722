"""A streamed run's routes: rejoin it (`GET /threads/{thread_id}/runs/{run_id}/stream`) and
stop it (`POST /threads/{thread_id}/runs/{run_id}/cancel`).

Every event of a `/stream` run is kept, with its id, in the thread store's run event log
(`agent.memory.runlog`). A client that lost its connection (a reload, a network change, the
front end's 230 s limit) asks for the run again with the id of the last event it has
(`Last-Event-ID`, as `EventSource` sends it): it gets every later event, in order, exactly once,
then the live ones until `end` or `error`, whichever instance runs the turn (this one reads the
store, which the running instance writes a few times a second). Without `Last-Event-ID` the run
is replayed from its first event. A run that is over with nothing after that id is a 204; an
unknown run, or another user's thread, a 404. A run whose instance died (its thread's lease
lapsed without its end being recorded) ends the stream with an `error` event that says so.

Stopping a run works from any instance too: the one that runs it stops it at once, any other
leaves the request in the run log, where the run looks for it every second. A stopped run ends
with an `error` event (status 499) and its thread keeps what was saved before; a run that is
already over is a 204.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from agent.memory.runlog import RunInfo, RunLog, RunLost, RunState
from agent.runtime import get_bot
from agent.settings import get_settings
from api.auth import caller
from api.problems import Problem, answers_problems, field_problem, problem_of
from api.sse import KEEPALIVE as KEEPALIVE_COMMENT
from api.sse import SSE_HEADERS, SSE_MEDIA_TYPE, error_data, frame
from api.streaming import stop_here
from api.threads import path_id
from api.turns import DONE, KEEPALIVE, drained

LAST_EVENT_ID = "last-event-id"
LOST_STATUS = 502


def last_event_id(request: Request) -> int:
    """The `Last-Event-ID` header as an event id (0 when absent: from the start)."""
    value = request.headers.get(LAST_EVENT_ID, "").strip()
    if not value:
        return 0
    if not value.isdigit() or len(value) > 12:
        raise field_problem(422, "Last-Event-ID", "must be the id of an event of this run "
                                                  "(a whole number)")
    return int(value)


def _lost(run_id: str, lost: RunLost) -> str:
    message = (f"The run stopped before its end ({lost.reason}); what it said so far is "
               "above. Ask again to get a whole answer.")
    return error_data(LOST_STATUS, message, run_id)


async def _events(runs: RunLog, thread_id: str, run_id: str, after: int,
                  queue: asyncio.Queue[object]) -> None:
    last = after
    try:
        async for event in runs.follow(thread_id, run_id, after):
            last = event.id
            queue.put_nowait(frame(event.id, event.event, event.data))
    except RunLost as lost:
        queue.put_nowait(frame(last + 1, "error", _lost(run_id, lost)))
    finally:
        queue.put_nowait(DONE)


async def _stream(runs: RunLog, thread_id: str, run_id: str, after: int,
                  keepalive_seconds: float) -> AsyncIterator[bytes]:
    """The run's events after `after`, one write for all that came at once (a replay, or what
    one read of the store found), with a keep-alive comment while none comes."""
    queue: asyncio.Queue[object] = asyncio.Queue()
    reader = asyncio.create_task(_events(runs, thread_id, run_id, after, queue))
    try:
        async with contextlib.aclosing(drained(queue, keepalive_seconds)) as batches:
            async for batch in batches:
                yield b"".join(KEEPALIVE_COMMENT if item is KEEPALIVE else cast(bytes, item)
                               for item in batch)
    finally:
        reader.cancel()


async def _run(request: Request, action: str) -> tuple[str, str, RunLog, RunInfo]:
    """The path's thread and run, the run log and the run's record, for `action` ("rejoin",
    "stop"); a `Problem` for another user's thread or an unknown run (404), or a failure."""
    owner = caller(request)
    thread_id = path_id(request)
    run_id = path_id(request, "run_id")
    try:
        bot = await get_bot()
        await bot.check_owner(thread_id, owner)
        runs = bot.runs
        info = await runs.info(thread_id, run_id) if runs is not None else None
    except Exception as exc:
        raise problem_of(exc, f"looking up run {run_id} to {action} it") from None
    if runs is None or info is None:
        raise Problem(404, f"No run {run_id!r} of thread {thread_id!r} to {action} (runs are "
                           "kept for RUN_EVENTS_TTL_SECONDS).")
    return thread_id, run_id, runs, info


@answers_problems()
async def join_run(request: Request) -> Response:
    """GET /threads/{thread_id}/runs/{run_id}/stream: the run's events after `Last-Event-ID`,
    then the live ones (204 when it is over with nothing more; 404 for an unknown run or
    another user's thread)."""
    thread_id, run_id, runs, info = await _run(request, "rejoin")
    after = last_event_id(request)
    if info.state is not RunState.RUNNING and info.last_event_id <= after:
        return Response(status_code=204)
    return StreamingResponse(
        _stream(runs, thread_id, run_id, after, get_settings().sse_keepalive_seconds),
        media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)


@answers_problems()
async def cancel_run(request: Request) -> Response:
    """POST /threads/{thread_id}/runs/{run_id}/cancel: stop a streamed run (202), on whichever
    instance runs it; 204 when it is already over; 404 for an unknown run or another user's
    thread."""
    thread_id, run_id, runs, info = await _run(request, "stop")
    if info.state is not RunState.RUNNING:
        return Response(status_code=204)
    try:
        if not stop_here(run_id):
            await runs.request_cancel(thread_id, run_id)
    except Exception as exc:
        raise problem_of(exc, f"stopping run {run_id}") from None
    return JSONResponse({"run_id": run_id, "state": "stopping"}, status_code=202)
