"""The handlers of the API's own routes (the seed client's `/invoke`, `/stream`, `/batch`, the
thread routes, `/health`). Each takes a Starlette `Request` and returns a response, so the same
functions serve the local dev server (FastAPI) and the Azure Functions triggers.

Bad input and failed runs are `Problem`s (`api.problems`), answered by `answers_problems` in
the API's error shape; turns run through `api.turns`.
"""

from __future__ import annotations

import asyncio
import uuid

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from agent.events import Answer, Interrupt, TokenUsage
from agent.ownership import Owner
from agent.runtime import get_bot
from agent.settings import Settings, get_settings
from agent.turns import Decision, TurnRequest
from api import turns
from api.about import app_version
from api.auth import caller
from api.bodies import M, check_path_utf8, parse_body
from api.problems import Problem, answers_problems, field_problem, problem_of
from api.schemas import (
    INCLUDE_TOOLS,
    THREAD_ID_MAX,
    BatchItem,
    BatchRequest,
    BatchResponse,
    ErrorItem,
    Health,
    InterruptOut,
    InvokeRequest,
    InvokeResponse,
    ThreadMessageOut,
    ThreadOut,
    ToolCallOut,
    Usage,
    check_thread_id,
)
from api.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from api.streaming import sse_stream


def body_limits(settings: Settings) -> tuple[int, dict[str, int]]:
    """The body size limit and the validation context of the API's request bodies."""
    context = {"max_input_chars": settings.max_input_chars,
               "max_batch_questions": settings.max_batch_questions}
    max_bytes = 4 * settings.max_input_chars * settings.max_batch_questions + 4096
    return max_bytes, context


async def parse(request: Request, model: type[M]) -> M:
    """The request's JSON body as `model`, or a `Problem` naming what to fix."""
    max_bytes, context = body_limits(get_settings())
    return await parse_body(request, model, max_bytes, context)


def usage_out(usage: TokenUsage) -> Usage:
    """A turn's token usage as the API reports it."""
    return Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                 reasoning_tokens=usage.reasoning_tokens, total_tokens=usage.total_tokens)


async def _turn(request: Request) -> TurnRequest:
    """The turn an `/invoke` or `/stream` body asks for: a question (on a new thread if
    `thread_id` is empty) or a decision on a paused call (`resume`); the caller is identified
    first (401 before anything else)."""
    owner = caller(request)
    body = await parse(request, InvokeRequest)
    problems = [ErrorItem(field=field, message=message)
                for field, message in body.which_problems()]
    if problems:
        raise Problem(422, "; ".join(f"{p.field}: {p.message}" for p in problems), problems)
    resume = body.resume
    decision = None if resume is None else Decision(
        interrupt_id=resume.interrupt_id, decision=resume.decision, args=resume.args,
        message=resume.message)
    return TurnRequest(thread_id=body.thread_id or str(uuid.uuid4()), run_id=str(uuid.uuid4()),
                       question=body.user_input, owner=owner, resume=decision)


def interrupt_out(interrupt: Interrupt, run_id: str, thread_id: str) -> InterruptOut:
    """A paused call as the API shows it (the `interrupt` event, `/invoke`, `/batch`, the
    thread's `pending`)."""
    return InterruptOut(run_id=run_id, thread_id=thread_id,
                        interrupt_id=interrupt.interrupt_id, agent=interrupt.agent,
                        tool=interrupt.tool, tool_call_id=interrupt.tool_call_id,
                        args=interrupt.args)


@answers_problems()
async def invoke(request: Request) -> Response:
    """POST /invoke: answer one question, or apply a decision on a paused call, within
    REQUEST_DEADLINE_SECONDS; a run that pauses answers with the waiting call."""
    turn = await _turn(request)
    answer = await turns.answer(turn)
    paused = answer.interrupt
    out = InvokeResponse(final_answer=None if paused else answer.text, thread_id=turn.thread_id,
                         run_id=turn.run_id, agent=answer.agent, usage=usage_out(answer.usage),
                         interrupt=None if paused is None
                         else interrupt_out(paused, turn.run_id, turn.thread_id))
    return JSONResponse(out.to_json())


@answers_problems()
async def stream(request: Request) -> Response:
    """POST /stream: answer one question as Server-Sent Events. A foreign thread (404) and a
    busy one (409) are answered before the stream starts."""
    turn = await _turn(request)
    admitted = await turns.admit(turn)
    return StreamingResponse(
        sse_stream(admitted.events, turn.run_id, turn.thread_id,
                   get_settings().sse_keepalive_seconds),
        media_type=SSE_MEDIA_TYPE,
        headers=SSE_HEADERS,
        # A stream that never started its run (client gone at once) gives the lease back.
        background=BackgroundTask(admitted.abandon),
    )


def _batch_item(turn: TurnRequest, answer: Answer | Problem) -> BatchItem:
    """One batch question's outcome."""
    if isinstance(answer, Answer) and answer.interrupt is not None:
        paused = answer.interrupt
        return BatchItem(status="interrupted", thread_id=turn.thread_id, run_id=turn.run_id,
                         answer=f"Waiting for a decision: {paused.agent} calls {paused.tool}.",
                         usage=usage_out(answer.usage),
                         interrupt=interrupt_out(paused, turn.run_id, turn.thread_id))
    if isinstance(answer, Answer):
        return BatchItem(status="ok", answer=answer.text, thread_id=turn.thread_id,
                         run_id=turn.run_id, usage=usage_out(answer.usage))
    timed_out = isinstance(answer, turns.DeadlinePassed)
    prefix = "Timed out" if timed_out else "Failed"
    return BatchItem(status="timeout" if timed_out else "error",
                     answer=f"{prefix}: {answer.detail}", thread_id=turn.thread_id,
                     run_id=turn.run_id, error=answer.detail, status_code=answer.status,
                     retry_after=answer.retry_after)


async def _answer_or_problem(turn: TurnRequest, ends_at: float) -> BatchItem:
    seconds = ends_at - asyncio.get_running_loop().time()
    try:
        return _batch_item(turn, await turns.answer(turn, seconds))
    except Problem as problem:
        return _batch_item(turn, problem)


@answers_problems()
async def batch(request: Request) -> Response:
    """POST /batch: many questions; on one thread in order, else concurrently (bounded).

    The whole batch answers within REQUEST_DEADLINE_SECONDS: questions not answered by then
    are cancelled and marked `timeout`; the finished ones are returned as usual.
    """
    owner = caller(request)
    body = await parse(request, BatchRequest)
    settings = get_settings()
    ends_at = asyncio.get_running_loop().time() + settings.request_deadline_seconds

    def turn(question: str, thread_id: str) -> TurnRequest:
        return TurnRequest(thread_id=thread_id, run_id=str(uuid.uuid4()), question=question,
                           owner=owner)

    if body.thread_id:
        await _check_owner(body.thread_id, owner)
        items = [await _answer_or_problem(turn(q, body.thread_id), ends_at)
                 for q in body.questions]
    else:
        gate = asyncio.Semaphore(settings.batch_concurrency)

        async def bounded(question: str) -> BatchItem:
            async with gate:
                return await _answer_or_problem(turn(question, str(uuid.uuid4())), ends_at)

        items = list(await asyncio.gather(*(bounded(q) for q in body.questions)))
    out = BatchResponse(answers=[i.answer for i in items], results=items,
                        thread_id=body.thread_id)
    return JSONResponse(out.to_json())


async def _check_owner(thread_id: str, owner: Owner | None) -> None:
    """404 at once if the thread is another user's."""
    if owner is None:
        return
    try:
        await (await get_bot()).check_owner(thread_id, owner)
    except Exception as exc:
        raise problem_of(exc, f"checking the owner of thread {thread_id}") from None


def path_thread_id(request: Request) -> str:
    """The `{thread_id}` of the path, checked as a body's `thread_id` is."""
    check_path_utf8(request, "thread_id")
    thread_id = str(request.path_params.get("thread_id", ""))
    if not thread_id or len(thread_id) > THREAD_ID_MAX:
        raise field_problem(422, "thread_id", f"must be 1 to {THREAD_ID_MAX} characters")
    try:
        return check_thread_id(thread_id)
    except ValueError as exc:
        raise field_problem(422, "thread_id", str(exc)) from None


def _include_tools(request: Request) -> bool:
    include = request.query_params.get("include", "")
    if include not in ("", INCLUDE_TOOLS):
        raise field_problem(422, "include", f"must be '{INCLUDE_TOOLS}' (add the tool calls "
                                            "and results)")
    return include == INCLUDE_TOOLS


def _not_found(thread_id: str) -> Problem:
    return Problem(404, f"No thread with thread_id {thread_id!r}.")


@answers_problems()
async def get_thread(request: Request) -> Response:
    """GET /threads/{thread_id}[?include=tools]: the conversation and the call waiting for a
    decision, or 404 (also another user's)."""
    owner = caller(request)
    thread_id = path_thread_id(request)
    include_tools = _include_tools(request)
    try:
        view = await (await get_bot()).thread(thread_id, owner, include_tools)
    except Exception as exc:
        raise problem_of(exc, f"reading thread {thread_id}") from None
    if view is None:
        raise _not_found(thread_id)
    pending = view.pending
    out = ThreadOut(thread_id=thread_id, pending=None if pending is None else interrupt_out(
        pending.interrupt, pending.run_id, thread_id), messages=[
        ThreadMessageOut(role=m.role, content=m.content, agent=m.agent,
                         tool_calls=None if m.tool_calls is None else [
                             ToolCallOut(id=c.id, name=c.name, args=c.args)
                             for c in m.tool_calls],
                         tool_call_id=m.tool_call_id, tool=m.tool)
        for m in view.messages])
    return JSONResponse(out.to_json())


@answers_problems()
async def delete_thread(request: Request) -> Response:
    """DELETE /threads/{thread_id}: delete the thread (204; 404 when there is no such thread
    or it is another user's; 409 while a turn runs on it)."""
    owner = caller(request)
    thread_id = path_thread_id(request)
    try:
        await (await get_bot()).delete_thread(thread_id, owner)
    except Exception as exc:
        raise problem_of(exc, f"deleting thread {thread_id}") from None
    return Response(status_code=204)


async def health(request: Request) -> Response:
    """GET /health: liveness (builds nothing, touches no backing service)."""
    settings = get_settings()
    out = Health(version=app_version(), model_provider=settings.provider,
                 thread_store=settings.thread_store)
    return JSONResponse(out.model_dump())
