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

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from agent.events import BotEvent
from agent.runtime import get_bot
from agent.settings import Settings, get_settings
from api.errors import BadRequest, M, parse_body
from api.failures import Failure, describe_failure
from api.models import (
    BatchItem,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    Health,
    InvokeRequest,
    InvokeResponse,
    ThreadMessageOut,
    ThreadOut,
    check_thread_id,
)
from api.sse import MEDIA_TYPE, SSE_HEADERS
from api.streaming import sse_stream

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


async def _turn(request: Request) -> tuple[str, str, str]:
    """The question, its thread id (a new one if empty) and a new run id; or `BadRequest`."""
    body = await _parse(request, InvokeRequest)
    return body.user_input, body.thread_id or str(uuid.uuid4()), str(uuid.uuid4())


async def invoke(request: Request) -> Response:
    """POST /invoke: answer one question, within REQUEST_DEADLINE_SECONDS."""
    try:
        question, thread_id, run_id = await _turn(request)
    except BadRequest as exc:
        return exc.response()
    settings = get_settings()
    deadline = asyncio.timeout(settings.request_deadline_seconds)
    try:
        async with deadline:
            answer = await (await get_bot()).answer(question, thread_id, run_id)
    except Exception as exc:
        if isinstance(exc, TimeoutError) and deadline.expired():
            log.warning("run %s cut at the request deadline", run_id)
            return _error(504, _deadline_message(settings))
        log.exception("run %s failed", run_id)
        return _failure(describe_failure(exc))
    out = InvokeResponse(final_answer=answer.text, thread_id=thread_id, run_id=run_id,
                         agent=answer.agent)
    return JSONResponse(out.model_dump())


async def stream(request: Request) -> Response:
    """POST /stream: answer one question as Server-Sent Events."""
    try:
        question, thread_id, run_id = await _turn(request)
    except BadRequest as exc:
        return exc.response()

    async def events(on_token: Callable[[str], None]) -> AsyncIterator[BotEvent]:
        # The bot is built (first request) after `metadata` went out; a failure to build it
        # becomes an `error` event like any other failure of the run.
        bot = await get_bot()
        async for event in bot.events(question, thread_id, run_id, on_token=on_token):
            yield event

    return StreamingResponse(
        sse_stream(events, run_id, thread_id, get_settings().sse_keepalive_seconds),
        media_type=MEDIA_TYPE,
        headers=SSE_HEADERS,
    )


async def _batch_item(question: str, thread_id: str, seconds_left: float) -> BatchItem:
    """One batch question, given the seconds left before the request's deadline."""
    run_id = str(uuid.uuid4())
    if seconds_left <= 0:
        return _timed_out(thread_id, run_id)
    deadline = asyncio.timeout(seconds_left)
    try:
        async with deadline:
            answer = await (await get_bot()).answer(question, thread_id, run_id)
    except Exception as exc:
        if isinstance(exc, TimeoutError) and deadline.expired():
            log.warning("batch run %s cut at the request deadline", run_id)
            return _timed_out(thread_id, run_id)
        log.exception("batch run %s failed", run_id)
        failure = describe_failure(exc)
        return BatchItem(status="error", answer=f"Failed: {failure.message}",
                         thread_id=thread_id, run_id=run_id, error=failure.message,
                         status_code=failure.status, retry_after=failure.retry_after)
    return BatchItem(status="ok", answer=answer.text, thread_id=thread_id, run_id=run_id)


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
        body = await _parse(request, BatchRequest)
    except BadRequest as exc:
        return exc.response()
    settings = get_settings()
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + settings.request_deadline_seconds
    if body.thread_id:
        items = [await _batch_item(q, body.thread_id, ends_at - loop.time())
                 for q in body.questions]
    else:
        gate = asyncio.Semaphore(settings.batch_concurrency)

        async def bounded(question: str) -> BatchItem:
            async with gate:
                return await _batch_item(question, str(uuid.uuid4()), ends_at - loop.time())

        items = list(await asyncio.gather(*(bounded(q) for q in body.questions)))
    out = BatchResponse(answers=[i.answer for i in items], results=items,
                        thread_id=body.thread_id)
    return JSONResponse(out.model_dump())


def _thread_id(request: Request) -> str:
    thread_id = str(request.path_params.get("thread_id", ""))
    if not thread_id or len(thread_id) > 128:
        raise BadRequest(422, "thread_id: must be 1 to 128 characters")
    try:
        return check_thread_id(thread_id)
    except ValueError as exc:
        raise BadRequest(422, f"thread_id: {exc}") from None


async def get_thread(request: Request) -> Response:
    """GET /threads/{thread_id}: the thread's messages, or 404."""
    try:
        thread_id = _thread_id(request)
    except BadRequest as exc:
        return exc.response()
    try:
        messages = await (await get_bot()).thread_messages(thread_id)
    except Exception as exc:
        log.exception("reading thread %s failed", thread_id)
        return _failure(describe_failure(exc))
    if messages is None:
        return _error(404, f"No thread with thread_id {thread_id!r}.")
    out = ThreadOut(thread_id=thread_id, messages=[
        ThreadMessageOut(role=m.role, content=m.content, agent=m.agent) for m in messages])
    return JSONResponse(out.model_dump())


async def delete_thread(request: Request) -> Response:
    """DELETE /threads/{thread_id}: delete the thread (204, also when it did not exist)."""
    try:
        thread_id = _thread_id(request)
    except BadRequest as exc:
        return exc.response()
    try:
        await (await get_bot()).delete_thread(thread_id)
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
