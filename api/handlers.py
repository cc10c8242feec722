"""The handlers of the API's turn routes (the seed client's `/invoke`, `/stream`, `/batch`) and
`/health` (the thread routes are `api.threads`). Each takes a Starlette `Request` and returns a
response, so the same functions serve the local dev server (FastAPI) and the Azure Functions
triggers.

Bad input and failed runs are `Problem`s (`api.problems`), answered by `answers_problems` in
the API's error shape; turns run through `api.turns`.
"""

from __future__ import annotations

import asyncio
import functools
import uuid

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from agent.events import Answer, TokenUsage
from agent.ownership import Owner
from agent.runtime import get_bot
from agent.settings import Settings, get_settings
from agent.turns import Decision, TurnRequest
from api import turns
from api.about import app_version
from api.auth import caller
from api.bodies import M, body_limit, parse_body
from api.decisions import InterruptOut
from api.problems import DeadlinePassed, Problem, answers_problems, problem_of
from api.schemas import (
    BatchItem,
    BatchRequest,
    BatchResponse,
    Health,
    InvokeRequest,
    InvokeResponse,
    StreamRequest,
    Usage,
)
from api.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from api.streaming import sse_stream


def body_limits(settings: Settings) -> tuple[int, dict[str, int]]:
    """The body size limit and the validation context of the API's request bodies."""
    context = {"max_input_chars": settings.max_input_chars,
               "max_batch_questions": settings.max_batch_questions}
    return body_limit(settings.max_input_chars, settings.max_batch_questions), context


async def parse(request: Request, model: type[M]) -> M:
    """The request's JSON body as `model`, or a `Problem` naming what to fix."""
    max_bytes, context = body_limits(get_settings())
    return await parse_body(request, model, max_bytes, context)


def usage_out(usage: TokenUsage) -> Usage:
    """A turn's token usage as the API reports it."""
    return Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                 reasoning_tokens=usage.reasoning_tokens, total_tokens=usage.total_tokens,
                 cached_input_tokens=usage.cached_input_tokens)


def _turn(body: InvokeRequest, owner: Owner | None) -> TurnRequest:
    """The turn an `/invoke` or `/stream` body asks for: a question (on a new thread if
    `thread_id` is empty), the thread's last question again (`regenerate`), or a decision on
    a paused call (`resume`)."""
    resume = body.resume
    decision = None if resume is None else Decision(
        interrupt_id=resume.interrupt_id, decision=resume.decision, args=resume.args,
        message=resume.message)
    return TurnRequest(thread_id=body.thread_id or str(uuid.uuid4()), run_id=str(uuid.uuid4()),
                       question=body.user_input, owner=owner, regenerate=body.regenerate,
                       resume=decision)


@answers_problems()
async def invoke(request: Request) -> Response:
    """POST /invoke: answer one question, or apply a decision on a paused call, within
    REQUEST_DEADLINE_SECONDS; a run that pauses answers with the waiting call."""
    owner = caller(request)  # 401 before anything else
    turn = _turn(await parse(request, InvokeRequest), owner)
    answer = await turns.answer(turn)
    paused = answer.interrupt
    out = InvokeResponse(final_answer=None if paused else answer.text, thread_id=turn.thread_id,
                         run_id=turn.run_id, agent=answer.agent, usage=usage_out(answer.usage),
                         interrupt=None if paused is None
                         else InterruptOut.of(paused, turn.run_id, turn.thread_id))
    return JSONResponse(out.to_json())


@answers_problems()
async def stream(request: Request) -> Response:
    """POST /stream: answer one question as Server-Sent Events, each event kept in the run
    log so a client can rejoin. A foreign thread (404) and a busy one (409) are answered
    before the stream starts."""
    owner = caller(request)  # 401 before anything else
    body = await parse(request, StreamRequest)
    turn = _turn(body, owner)
    admitted = await turns.admit(turn)
    runs = admitted.bot.runs if admitted.bot is not None else None
    recorder = runs.recorder(turn.thread_id, turn.run_id) if runs is not None else None
    return StreamingResponse(
        sse_stream(admitted.events, turn.run_id, turn.thread_id,
                   get_settings().sse_keepalive_seconds, recorder=recorder,
                   keep_going=body.on_disconnect == "continue",
                   stop_asked=None if runs is None else functools.partial(
                       runs.cancel_requested, turn.thread_id, turn.run_id)),
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
                         interrupt=InterruptOut.of(paused, turn.run_id, turn.thread_id))
    if isinstance(answer, Answer):
        return BatchItem(status="ok", answer=answer.text, thread_id=turn.thread_id,
                         run_id=turn.run_id, usage=usage_out(answer.usage))
    timed_out = isinstance(answer, DeadlinePassed)
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

    if body.thread_id:
        await _check_owner(body.thread_id, owner)
        items = [await _answer_or_problem(turns.new_turn(q, body.thread_id, owner), ends_at)
                 for q in body.questions]
    else:
        gate = asyncio.Semaphore(settings.batch_concurrency)

        async def bounded(question: str) -> BatchItem:
            async with gate:
                return await _answer_or_problem(
                    turns.new_turn(question, str(uuid.uuid4()), owner), ends_at)

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


async def health(request: Request) -> Response:
    """GET /health: liveness (builds nothing, touches no backing service)."""
    settings = get_settings()
    out = Health(version=app_version(), model_provider=settings.provider,
                 thread_store=settings.thread_store)
    return JSONResponse(out.model_dump())
