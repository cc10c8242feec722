"""AG-UI 1.0 at `POST /ag-ui`: a `RunAgentInput` in, the run's AG-UI events out as Server-Sent
Events (what CopilotKit, assistant-ui, Microsoft Agent Framework and the AG-UI clients speak).

The input and the events are `api.agui_events`'s (imported on the first request, in a worker
thread). Before the stream starts the request is checked as the API checks every request
(401 under AUTH_MODE=easyauth, 415, 413, 400 for bad JSON, 422 for a bad field), the thread's
lease is taken (409 with `Retry-After` while another turn runs) and its owner checked (404 for
another user's thread); each is answered as a `RUN_ERROR` event in a JSON body
(`{"type": "RUN_ERROR", "message", "code"}`) with that status. Once the stream started, a
failure is the `RUN_ERROR` event that ends it. A comment line `: keep-alive` goes out while the
run is quiet; a client that leaves cancels the run.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from agent.events import Answer
from agent.settings import get_settings
from api.auth import caller
from api.bodies import body_limit, read_json
from api.problems import Problem, problem_of
from api.sse import KEEPALIVE as KEEPALIVE_COMMENT
from api.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from api.turns import KEEPALIVE, Admitted, admit, new_turn

if TYPE_CHECKING:
    from api.agui_events import EventWriter

log = logging.getLogger(__name__)
_loaded: list[ModuleType] = []


async def _events_module() -> ModuleType:
    """`api.agui_events`, imported off the event loop on first use."""
    if not _loaded:
        _loaded[:] = [await asyncio.to_thread(importlib.import_module, "api.agui_events")]
    return _loaded[0]


def _error(events: ModuleType, exc: BaseException, context: str) -> JSONResponse:
    problem = problem_of(exc, context)
    body: dict[str, Any] = events.error_event(problem.status, problem.detail).model_dump(
        mode="json", by_alias=True)
    return JSONResponse(body, status_code=problem.status, headers=problem.headers or None)


async def _events(stream: Admitted, writer: EventWriter) -> AsyncIterator[bytes]:
    yield writer.started()
    final: Answer | None = None
    try:
        async for item in stream.live():
            if item is KEEPALIVE:
                yield KEEPALIVE_COMMENT
            elif isinstance(item, Answer):
                final = item
            else:
                yield writer.event(item)
        if final is None:
            raise Problem(500, "The run ended without an answer; see the server log.")
    except Problem as problem:
        yield writer.error(problem.status, problem.detail)
        return
    yield writer.finished(final)


async def ag_ui(request: Request) -> Response:
    """POST /ag-ui: run the bot for one AG-UI `RunAgentInput`."""
    events = await _events_module()
    try:
        owner = caller(request)
        settings = get_settings()
        _, data = await read_json(request, body_limit(settings.max_input_chars,
                                                      settings.max_batch_questions))
        run = events.parse_input(data, settings.max_input_chars)
    except Exception as exc:
        return _error(events, exc, "reading an AG-UI run")
    turn = new_turn(run.question, run.thread_id, owner, resume=run.resume)
    try:
        stream = await admit(turn)
    except Exception as exc:
        return _error(events, exc, f"run {turn.run_id}")
    writer: EventWriter = events.EventWriter(run.thread_id, run.run_id)
    return StreamingResponse(_events(stream, writer), media_type=SSE_MEDIA_TYPE,
                             headers=SSE_HEADERS,
                             background=BackgroundTask(stream.abandon))


def openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """The operation's documentation and the component schemas it refers to."""
    from ag_ui.core import RunAgentInput, RunErrorEvent

    schemas: dict[str, Any] = {}
    for model in (RunAgentInput, RunErrorEvent):
        # Prefixed: AG-UI's names (Tool, Context, ...) are too general to share the namespace.
        schema = model.model_json_schema(by_alias=True,
                                         ref_template="#/components/schemas/AgUi{model}")
        schemas.update({f"AgUi{name}": s for name, s in schema.pop("$defs", {}).items()})
        schemas[f"AgUi{model.__name__}"] = schema
    error = {"content": {"application/json": {"schema": {
        "$ref": "#/components/schemas/AgUiRunErrorEvent"}}}}
    operation = {
        "description": "AG-UI 1.0: RunAgentInput in (threadId is the thread, the last message "
                       "the user's question), AG-UI events out as Server-Sent Events "
                       "(`data: <event JSON>`): RUN_STARTED, TEXT_MESSAGE_START / CONTENT / END, "
                       "TOOL_CALL_START / ARGS / END, TOOL_CALL_RESULT, then RUN_FINISHED or "
                       "RUN_ERROR.",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/AgUiRunAgentInput"}}}},
        "responses": {"200": {"description": "AG-UI events",
                              "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                      **{str(s): {"description": "RUN_ERROR before the stream", **error}
                         for s in (400, 401, 404, 409, 413, 415, 422, 500, 502)}},
    }
    return operation, schemas
