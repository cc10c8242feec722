"""The thread routes: read a thread (`GET /threads/{thread_id}`), delete it, list the caller's
threads (`GET /threads`), rename one (`PATCH /threads/{thread_id}`), and give feedback on one
of its answers (`POST /threads/{thread_id}/runs/{run_id}/feedback`).

A thread another user owns is answered exactly as one that doesn't exist (404), before
anything else. Without sign-in (AUTH_MODE=none) a thread is anyone's who knows its id, so the
server lists no threads (`"listed": false`: a client keeps its own list).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.events import ThreadView
from agent.memory.thread_index import BadCursor, Feedback, ThreadSummary
from agent.runtime import get_bot
from api.auth import caller
from api.bodies import check_path_utf8
from api.decisions import InterruptOut
from api.handlers import parse
from api.problems import Problem, answers_problems, field_problem, problem_of
from api.schemas import INCLUDE_TOOLS, THREAD_ID_MAX, check_thread_id
from api.thread_schemas import (
    CURSOR_MAX,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    ActiveRunOut,
    FeedbackOut,
    FeedbackRequest,
    RenameRequest,
    ThreadList,
    ThreadMessageOut,
    ThreadOut,
    ThreadSummaryOut,
    ToolCallOut,
)


def path_id(request: Request, name: str = "thread_id") -> str:
    """A `{thread_id}` (or `{run_id}`) of the path, checked as a body's `thread_id` is."""
    check_path_utf8(request, name)
    value = str(request.path_params.get(name, ""))
    if not value or len(value) > THREAD_ID_MAX:
        raise field_problem(422, name, f"must be 1 to {THREAD_ID_MAX} characters")
    try:
        return check_thread_id(value)
    except ValueError as exc:
        raise field_problem(422, name, str(exc)) from None


def _include_tools(request: Request) -> bool:
    include = request.query_params.get("include")
    if include not in (None, INCLUDE_TOOLS):
        raise field_problem(422, "include", f"must be '{INCLUDE_TOOLS}' (add the tool calls "
                                            "and results)")
    return include == INCLUDE_TOOLS


def _not_found(thread_id: str) -> Problem:
    return Problem(404, f"No thread with thread_id {thread_id!r}.")


def iso(seconds: float) -> str | None:
    """A time as ISO 8601 UTC (None for "not recorded")."""
    if not seconds:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def summary_out(summary: ThreadSummary) -> ThreadSummaryOut:
    """A thread summary as the API shows it."""
    return ThreadSummaryOut(thread_id=summary.thread_id, title=summary.title,
                            created_at=iso(summary.created_at),
                            updated_at=iso(summary.updated_at))


def thread_out(view: ThreadView) -> ThreadOut:
    """A thread view as `GET /threads/{thread_id}` answers it."""
    def feedback(role: str, run_id: str | None) -> FeedbackOut | None:
        given = view.feedback.get(run_id or "") if role == "assistant" else None
        return None if given is None else FeedbackOut(run_id=given.run_id, score=given.score,
                                                      comment=given.comment)

    summary, active = view.summary, view.active_run
    pending = view.pending
    return ThreadOut(
        thread_id=view.thread_id,
        pending=None if pending is None else InterruptOut.of(pending.interrupt, pending.run_id,
                                                             view.thread_id),
        title=summary.title if summary else "",
        created_at=iso(summary.created_at) if summary else None,
        updated_at=iso(summary.updated_at) if summary else None,
        active_run=None if active is None else ActiveRunOut(
            run_id=active.run_id, last_event_id=active.last_event_id),
        messages=[ThreadMessageOut(
            role=m.role, content=m.content, agent=m.agent,
            tool_calls=None if m.tool_calls is None else [
                ToolCallOut(id=c.id, name=c.name, args=c.args) for c in m.tool_calls],
            tool_call_id=m.tool_call_id, tool=m.tool, run_id=m.run_id,
            feedback=feedback(m.role, m.run_id)) for m in view.messages])


@answers_problems()
async def get_thread(request: Request) -> Response:
    """GET /threads/{thread_id}[?include=tools]: the conversation and the call waiting for a
    person's decision (`pending`), or 404 (also another user's)."""
    owner = caller(request)
    thread_id = path_id(request)
    include_tools = _include_tools(request)
    try:
        view = await (await get_bot()).thread(thread_id, include_tools, owner)
    except Exception as exc:
        raise problem_of(exc, f"reading thread {thread_id}") from None
    if view is None:
        raise _not_found(thread_id)
    return JSONResponse(thread_out(view).to_json())


@answers_problems()
async def delete_thread(request: Request) -> Response:
    """DELETE /threads/{thread_id}: delete the thread (204; 404 when there is no such thread
    or it is another user's; 409 while a turn runs on it)."""
    owner = caller(request)
    thread_id = path_id(request)
    try:
        await (await get_bot()).delete_thread(thread_id, owner)
    except Exception as exc:
        raise problem_of(exc, f"deleting thread {thread_id}") from None
    return Response(status_code=204)


def _limit(request: Request) -> int:
    text = request.query_params.get("limit", str(LIST_LIMIT_DEFAULT))
    if not text.isdigit() or not 1 <= int(text) <= LIST_LIMIT_MAX:
        raise field_problem(422, "limit", f"must be a whole number from 1 to {LIST_LIMIT_MAX}")
    return int(text)


@answers_problems()
async def list_threads(request: Request) -> Response:
    """GET /threads[?limit=&cursor=]: the caller's threads, newest first (signed in only)."""
    owner = caller(request)
    limit = _limit(request)
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > CURSOR_MAX:
        raise field_problem(422, "cursor", "is not a cursor this server gave")
    if owner is None:
        return JSONResponse(ThreadList(threads=[], next_cursor=None, listed=False).model_dump())
    try:
        rows, next_cursor = await (await get_bot()).threads(owner, limit, cursor)
    except BadCursor as exc:
        raise field_problem(422, "cursor", str(exc)) from None
    except Exception as exc:
        raise problem_of(exc, "listing threads") from None
    out = ThreadList(threads=[summary_out(r) for r in rows], next_cursor=next_cursor,
                     listed=True)
    return JSONResponse(out.model_dump())


@answers_problems()
async def rename_thread(request: Request) -> Response:
    """PATCH /threads/{thread_id}: set the thread's title."""
    owner = caller(request)
    thread_id = path_id(request)
    body = await parse(request, RenameRequest)
    try:
        summary = await (await get_bot()).rename(thread_id, owner, body.title)
    except Exception as exc:
        raise problem_of(exc, f"renaming thread {thread_id}") from None
    return JSONResponse(summary_out(summary).model_dump())


@answers_problems()
async def give_feedback(request: Request) -> Response:
    """POST /threads/{thread_id}/runs/{run_id}/feedback: a thumbs up or down (and a comment)
    on the answer of one run; a second one replaces the first."""
    owner = caller(request)
    thread_id = path_id(request)
    run_id = path_id(request, "run_id")
    body = await parse(request, FeedbackRequest)
    feedback = Feedback(run_id, body.score, body.comment, time.time())
    try:
        await (await get_bot()).give_feedback(thread_id, owner, feedback)
    except Exception as exc:
        raise problem_of(exc, f"feedback on thread {thread_id}") from None
    out = FeedbackOut(run_id=run_id, score=body.score, comment=body.comment)
    return JSONResponse(out.model_dump())
