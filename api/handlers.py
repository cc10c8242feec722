"""The handlers for every route. Each takes a Starlette `Request` and returns a response, so
the same functions serve the local dev server (FastAPI) and the Azure Functions triggers.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from agent.events import BotEvent, TokenUsage
from agent.memory.leases import ThreadBusy  # light: no store SDK is imported
from agent.ownership import ThreadNotFound
from agent.runtime import get_bot
from agent.settings import Settings, get_settings
from api.auth import caller
from api.errors import BadRequest, M, check_path_utf8, parse_body
from api.failures import Failure, describe_failure
from api.models import (
    INCLUDE_TOOLS,
    BatchItem,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    Health,
    InvokeRequest,
    InvokeResponse,
    ThreadMessageOut,
    ThreadOut,
    ToolCallOut,
    Usage,
    check_thread_id,
)
from api.sse import MEDIA_TYPE, SSE_HEADERS
from api.streaming import sse_stream

if TYPE_CHECKING:
    from agent.bot import Bot
    from agent.memory.leases import Claim

log = logging.getLogger(__name__)


def _limits(settings: Settings) -> tuple[int, dict[str, int]]:
    context = {"max_input_chars": settings.max_input_chars,
               "max_batch_questions": settings.max_batch_questions}
    max_bytes = 4 * settings.max_input_chars * settings.max_batch_questions + 4096
    return max_bytes, context


async def _parse(request: Request, model: type[M]) -> M:
    max_bytes, context = _limits(get_settings())
    return await parse_body(request, model, max_bytes, context)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorResponse(detail=detail).model_dump(), status_code=status,
                        headers=headers)


def _failure(failure: Failure) -> JSONResponse:
    return _error(failure.status, failure.message, failure.headers)


def _deadline_message(settings: Settings) -> str:
    return (f"No answer within REQUEST_DEADLINE_SECONDS ({settings.request_deadline_seconds:g} s)"
            ", the longest a request may take here. Use /stream for long answers.")


def _busy(exc: ThreadBusy) -> JSONResponse:
    """409: another turn holds the thread (THREAD_BUSY); try again after `Retry-After`."""
    return JSONResponse(ErrorResponse(detail=str(exc)).model_dump(), status_code=409,
                        headers={"Retry-After": str(exc.retry_after)})


def _usage(usage: TokenUsage) -> Usage:
    return Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                 reasoning_tokens=usage.reasoning_tokens, total_tokens=usage.total_tokens,
                 cached_input_tokens=usage.cached_input_tokens)


def _not_found(thread_id: str) -> JSONResponse:
    return _error(404, f"No thread with thread_id {thread_id!r}.")


async def _turn(request: Request) -> tuple[str, str, str, str | None, bool]:
    """The question, its thread id (a new one if empty), a new run id, the caller (None
    without AUTH_MODE=easyauth) and whether the thread id was given; or `BadRequest` (401
    before anything else)."""
    owner = caller(request)
    body = await _parse(request, InvokeRequest)
    thread_id = body.thread_id or str(uuid.uuid4())
    return body.user_input, thread_id, str(uuid.uuid4()), owner, bool(body.thread_id)


async def invoke(request: Request) -> Response:
    """POST /invoke: answer one question, within REQUEST_DEADLINE_SECONDS."""
    try:
        question, thread_id, run_id, owner, _ = await _turn(request)
    except BadRequest as exc:
        return exc.response()
    settings = get_settings()
    deadline = asyncio.timeout(settings.request_deadline_seconds)
    try:
        async with deadline:
            answer = await (await get_bot()).answer(question, thread_id, run_id, owner)
    except ThreadBusy as exc:
        return _busy(exc)
    except Exception as exc:
        if isinstance(exc, TimeoutError) and deadline.expired():
            log.warning("run %s cut at the request deadline", run_id)
            return _error(504, _deadline_message(settings))
        if not isinstance(exc, ThreadNotFound):
            log.exception("run %s failed", run_id)
        return _failure(describe_failure(exc))
    out = InvokeResponse(final_answer=answer.text, thread_id=thread_id, run_id=run_id,
                         agent=answer.agent, usage=_usage(answer.usage))
    return JSONResponse(out.model_dump())


async def _refuse_foreign_thread(thread_id: str, owner: str | None) -> Response | None:
    """404 (or the failure) before a response starts if the thread is another user's."""
    if owner is None:
        return None
    try:
        await (await get_bot()).check_owner(thread_id, owner)
    except Exception as exc:
        if not isinstance(exc, ThreadNotFound):
            log.exception("checking the owner of thread %s failed", thread_id)
        return _failure(describe_failure(exc))
    return None


async def stream(request: Request) -> Response:
    """POST /stream: answer one question as Server-Sent Events."""
    try:
        question, thread_id, run_id, owner, given = await _turn(request)
    except BadRequest as exc:
        return exc.response()
    # The thread's lease is taken before the stream starts, so a busy thread gets a plain 409,
    # and a signed-in user's turn on another user's thread a plain 404 (checked under the
    # lease). A bot that fails to build is reported as the run's `error` event, like any
    # failure.
    claim: Claim | None = None
    try:
        bot: Bot | None = await get_bot()
        failure: Exception | None = None
    except Exception as exc:
        bot, failure = None, exc
    if bot is not None:
        try:
            claim = await bot.claim(thread_id)
        except ThreadBusy as exc:
            return _busy(exc)
        except Exception as exc:
            log.exception("taking the lease of thread %s failed", thread_id)
            return _failure(describe_failure(exc))
        refused = await _refuse_foreign_thread(thread_id, owner) if given else None
        if refused is not None:
            await claim.abandon()
            return refused

    async def events(on_token: Callable[[str], None]) -> AsyncIterator[BotEvent]:
        if bot is None:
            raise failure or RuntimeError("no bot")
        async for event in bot.events(question, thread_id, run_id, claim, owner,
                                      on_token=on_token):
            yield event

    return StreamingResponse(
        sse_stream(events, run_id, thread_id, get_settings().sse_keepalive_seconds),
        media_type=MEDIA_TYPE,
        headers=SSE_HEADERS,
        # A stream that never started its run (client gone at once) gives the lease back.
        background=BackgroundTask(claim.abandon) if claim is not None else None,
    )


async def _batch_item(question: str, thread_id: str, seconds_left: float,
                      owner: str | None = None) -> BatchItem:
    """One batch question, given the seconds left before the request's deadline."""
    run_id = str(uuid.uuid4())
    if seconds_left <= 0:
        return _timed_out(thread_id, run_id)
    deadline = asyncio.timeout(seconds_left)
    try:
        async with deadline:
            answer = await (await get_bot()).answer(question, thread_id, run_id, owner)
    except ThreadBusy as exc:
        return BatchItem(status="error", answer=f"Failed: {exc}", thread_id=thread_id,
                         run_id=run_id, error=str(exc), status_code=409,
                         retry_after=exc.retry_after)
    except Exception as exc:
        if isinstance(exc, TimeoutError) and deadline.expired():
            log.warning("batch run %s cut at the request deadline", run_id)
            return _timed_out(thread_id, run_id)
        if not isinstance(exc, ThreadNotFound):
            log.exception("batch run %s failed", run_id)
        failure = describe_failure(exc)
        return BatchItem(status="error", answer=f"Failed: {failure.message}",
                         thread_id=thread_id, run_id=run_id, error=failure.message,
                         status_code=failure.status, retry_after=failure.retry_after)
    return BatchItem(status="ok", answer=answer.text, thread_id=thread_id, run_id=run_id,
                     usage=_usage(answer.usage))


def _timed_out(thread_id: str, run_id: str) -> BatchItem:
    message = _deadline_message(get_settings())
    return BatchItem(status="timeout", answer=f"Timed out: {message}", thread_id=thread_id,
                     run_id=run_id, error=message, status_code=504)


async def batch(request: Request) -> Response:
    """POST /batch: many questions; on one thread in order, else concurrently (bounded).

    The whole batch answers within REQUEST_DEADLINE_SECONDS: questions not answered by then
    are cancelled and marked `timeout`; the finished ones are returned as usual.
    """
    try:
        owner = caller(request)
        body = await _parse(request, BatchRequest)
    except BadRequest as exc:
        return exc.response()
    settings = get_settings()
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + settings.request_deadline_seconds
    if body.thread_id:
        refused = await _refuse_foreign_thread(body.thread_id, owner)
        if refused is not None:
            return refused
        items = [await _batch_item(q, body.thread_id, ends_at - loop.time(), owner)
                 for q in body.questions]
    else:
        gate = asyncio.Semaphore(settings.batch_concurrency)

        async def bounded(question: str) -> BatchItem:
            async with gate:
                return await _batch_item(question, str(uuid.uuid4()), ends_at - loop.time(),
                                         owner)

        items = list(await asyncio.gather(*(bounded(q) for q in body.questions)))
    out = BatchResponse(answers=[i.answer for i in items], results=items,
                        thread_id=body.thread_id)
    return JSONResponse(out.model_dump())


def _thread_id(request: Request) -> str:
    check_path_utf8(request, "thread_id")
    thread_id = str(request.path_params.get("thread_id", ""))
    if not thread_id or len(thread_id) > 128:
        raise BadRequest(422, "thread_id: must be 1 to 128 characters")
    try:
        return check_thread_id(thread_id)
    except ValueError as exc:
        raise BadRequest(422, f"thread_id: {exc}") from None


def _include_tools(request: Request) -> bool:
    include = request.query_params.get("include", "")
    if include not in ("", INCLUDE_TOOLS):
        raise BadRequest(422, f"include: must be '{INCLUDE_TOOLS}' (add the tool calls and "
                         "results)")
    return include == INCLUDE_TOOLS


async def get_thread(request: Request) -> Response:
    """GET /threads/{thread_id}[?include=tools]: the conversation, or 404 (also another
    user's)."""
    try:
        owner = caller(request)
        thread_id = _thread_id(request)
        include_tools = _include_tools(request)
    except BadRequest as exc:
        return exc.response()
    try:
        messages = await (await get_bot()).thread_messages(thread_id, include_tools, owner)
    except Exception as exc:
        log.exception("reading thread %s failed", thread_id)
        return _failure(describe_failure(exc))
    if messages is None:
        return _not_found(thread_id)
    out = ThreadOut(thread_id=thread_id, messages=[
        ThreadMessageOut(role=m.role, content=m.content, agent=m.agent,
                         tool_calls=None if m.tool_calls is None else [
                             ToolCallOut(id=c.id, name=c.name, args=c.args)
                             for c in m.tool_calls],
                         tool_call_id=m.tool_call_id, tool=m.tool)
        for m in messages])
    return JSONResponse(out.to_json())


async def delete_thread(request: Request) -> Response:
    """DELETE /threads/{thread_id}: delete the thread (204, also when it did not exist; 409
    while a turn runs on it; 404 when it is another user's)."""
    try:
        owner = caller(request)
        thread_id = _thread_id(request)
    except BadRequest as exc:
        return exc.response()
    try:
        await (await get_bot()).delete_thread(thread_id, owner)
    except ThreadBusy as exc:
        return _busy(exc)
    except ThreadNotFound:
        return _not_found(thread_id)
    except Exception as exc:
        log.exception("deleting thread %s failed", thread_id)
        return _failure(describe_failure(exc))
    return Response(status_code=204)


@lru_cache(maxsize=1)
def app_version() -> str:
    """The installed version of this app, if packaged; else the source version."""
    try:
        return version("smartbot-functions")
    except PackageNotFoundError:
        return "0.1.0"


async def health(request: Request) -> Response:
    """GET /health: liveness (builds nothing, touches no backing service)."""
    settings = get_settings()
    out = Health(version=app_version(), model_provider=settings.provider,
                 thread_store=settings.thread_store)
    return JSONResponse(out.model_dump())
