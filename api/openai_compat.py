"""The OpenAI-compatible API: `POST /v1/chat/completions` and `GET /v1/models`, so clients made
for OpenAI (the OpenAI SDKs, LangChain's `ChatOpenAI`, Open WebUI, LibreChat, LiteLLM) use the
bot as a model.

- Models: `smartbot` (the supervisor picks the specialist) and `smartbot-<name>` for each
  specialist this deployment has set up (`smartbot-docsearch` answers as `@docsearch` does).
- Conversation: stateless by default (the request's messages are the conversation; nothing is
  kept), or a thread named by the `X-Thread-Id` header or `metadata.thread_id` (created by its
  first turn, with ownership, leases and 409 while busy); the answer then carries `X-Thread-Id`.
  What the request may hold is `api.openai_request`'s.
- Answers: `chat.completion`, or with `"stream": true` `chat.completion.chunk` events (the role
  first, then the answer's tokens as they arrive, then `finish_reason: "stop"`, the usage chunk
  with `stream_options.include_usage`, and `data: [DONE]`). Citations stay in the text as
  `[[n]](source)`. Tool calls the bot makes are not sent (they are not the client's to run).
- Errors: OpenAI's shape `{"error": {"message", "type", "param", "code"}}` with the statuses the
  SDKs map (400 for every request problem, 401, 404 for an unknown model or thread, 409 with
  `Retry-After` for a busy thread, 413, 415, 429 with `Retry-After`, 5xx). A failure after the
  stream started is an `{"error": ...}` event that ends it (no `[DONE]`), which the SDKs raise.

Authentication is the API's: the function key (send it as the `x-functions-key` default
header) or Easy Auth (`api.auth.caller`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from agent.events import Answer, Token, TokenUsage
from agent.settings import get_settings
from api.auth import caller
from api.bodies import body_limit, read_json
from api.openai_request import THREAD_HEADER, ChatRequest, RequestProblem, parse_chat_request
from api.problems import Problem, problem_of
from api.sse import KEEPALIVE as KEEPALIVE_COMMENT
from api.sse import SSE_HEADERS, SSE_MEDIA_TYPE
from api.turns import KEEPALIVE, Admitted, admit, answer, enabled_specialists, new_turn

log = logging.getLogger(__name__)

MODEL_ID = "smartbot"
OWNER = "smartbot"
ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
ERROR_CODES = {401: "unauthorized", 404: "not_found", 409: "thread_busy",
               413: "request_too_large", 415: "unsupported_media_type",
               429: "rate_limit_exceeded", 500: "internal_error", 502: "upstream_error",
               504: "timeout"}


def error_body(status: int, message: str, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error object."""
    kind = ERROR_TYPES.get(status) or ("server_error" if status >= 500
                                       else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param,
                      "code": code or ERROR_CODES.get(status, "invalid_request")}}


def _error(exc: BaseException, context: str) -> JSONResponse:
    """Any failure as OpenAI's error response (422 is OpenAI's 400)."""
    if isinstance(exc, RequestProblem):
        return JSONResponse(error_body(exc.status, exc.message, exc.param, exc.code),
                            status_code=exc.status)
    problem = problem_of(exc, context)
    status = 400 if problem.status == 422 else problem.status
    return JSONResponse(error_body(status, problem.detail, problem.field),
                        status_code=status, headers=problem.headers or None)


def _json(payload: dict[str, Any]) -> bytes:
    """One SSE `data:` event; text that isn't valid Unicode is sent escaped, never dropped."""
    try:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        data = json.dumps(payload, separators=(",", ":")).encode()
    return b"data: " + data + b"\n\n"


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": OWNER}


async def list_models(request: Request) -> Response:
    """GET /v1/models: the bot, and one model per specialist set up here."""
    try:
        caller(request)
        names = await enabled_specialists()
    except Exception as exc:
        return _error(exc, "listing the models")
    models = [_model(MODEL_ID), *(_model(f"{MODEL_ID}-{name}") for name in sorted(names))]
    return JSONResponse({"object": "list", "data": models})


async def _specialist(model: str) -> str | None:
    """The specialist a model id forces (None: the supervisor chooses), or 404."""
    if model == MODEL_ID:
        return None
    names = await enabled_specialists()
    name = model.removeprefix(f"{MODEL_ID}-")
    if model.startswith(f"{MODEL_ID}-") and name in names:
        return name
    known = ", ".join([MODEL_ID, *(f"{MODEL_ID}-{n}" for n in sorted(names))])
    raise RequestProblem("model", f"The model {model!r} does not exist here; the models are "
                         f"{known} (GET /v1/models).", "model_not_found", status=404)


def _usage(usage: TokenUsage) -> dict[str, Any]:
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}}


class _Completion:
    """The fixed fields of one completion's objects."""

    def __init__(self, chat: ChatRequest, run_id: str) -> None:
        self.chat = chat
        self.id = f"chatcmpl-{run_id}"
        self.created = int(time.time())

    def whole(self, answer: Answer) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None,
                   "annotations": []}
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.chat.model, "system_fingerprint": None,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "stop"}],
                "usage": _usage(answer.usage)}

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.chat.model, "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish_reason}]}
        if self.chat.include_usage:
            payload["usage"] = None
        return _json(payload)

    def usage_chunk(self, usage: TokenUsage) -> bytes:
        return _json({"id": self.id, "object": "chat.completion.chunk",
                      "created": self.created, "model": self.chat.model,
                      "system_fingerprint": None, "choices": [], "usage": _usage(usage)})


async def _chunks(stream: Admitted, completion: _Completion) -> AsyncIterator[bytes]:
    """The SSE bytes of a streamed completion."""
    yield completion.chunk({"role": "assistant", "content": ""})
    final: Answer | None = None
    try:
        async for item in stream.live():
            if item is KEEPALIVE:
                yield KEEPALIVE_COMMENT
            elif isinstance(item, Token):
                yield completion.chunk({"content": item.text})
            elif isinstance(item, Answer):
                final = item
    except Problem as problem:
        yield _json(error_body(problem.status, problem.detail))
        return
    yield completion.chunk({}, "stop")
    if completion.chat.include_usage and final is not None:
        yield completion.usage_chunk(final.usage)
    yield b"data: [DONE]\n\n"


async def chat_completions(request: Request) -> Response:
    """POST /v1/chat/completions."""
    try:
        owner = caller(request)
        settings = get_settings()
        _, data = await read_json(request, body_limit(settings.max_input_chars,
                                                      settings.max_batch_questions))
        chat = parse_chat_request(data, request.headers.get(THREAD_HEADER),
                                  settings.max_input_chars)
        specialist = await _specialist(chat.model)
    except Exception as exc:
        return _error(exc, "reading a chat completion request")
    # Chat Completions has no way to show a call waiting for approval: such calls are declined.
    turn = new_turn(chat.question, chat.thread_id, owner, specialist=specialist,
                    history=chat.history, can_pause=False)
    completion = _Completion(chat, turn.run_id)
    headers = {"X-Thread-Id": chat.thread_id} if chat.thread_id else {}
    if not chat.stream:
        try:
            result = await answer(turn)
        except Exception as exc:
            return _error(exc, f"run {turn.run_id}")
        return JSONResponse(completion.whole(result), headers=headers)
    try:
        stream = await admit(turn)
    except Exception as exc:
        return _error(exc, f"run {turn.run_id}")
    return StreamingResponse(_chunks(stream, completion), media_type=SSE_MEDIA_TYPE,
                             headers={**SSE_HEADERS, **headers},
                             background=BackgroundTask(stream.abandon))


def _error_schema() -> dict[str, Any]:
    return {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"], "properties": {
            "message": {"type": "string"}, "type": {"type": "string"},
            "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}}


def _errors(statuses: tuple[int, ...]) -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/OpenAIError"}
    return {str(s): {"description": "Error (OpenAI's shape)",
                     "content": {"application/json": {"schema": ref}}} for s in statuses}


def chat_openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """`POST /v1/chat/completions`'s documentation and the component schemas it refers to."""
    from api.openai_request import request_schema

    completion = {"type": "object", "required": ["id", "object", "created", "model", "choices",
                                                 "usage"],
                  "properties": {"object": {"const": "chat.completion"}}}
    operation = {
        "description": "OpenAI Chat Completions. Stateless unless a thread is named "
                       "(`X-Thread-Id` header or `metadata.thread_id`); with `stream: true`, "
                       "`chat.completion.chunk` events ending with `data: [DONE]`.",
        "parameters": [{"name": "X-Thread-Id", "in": "header", "required": False,
                        "description": "Continue (or start) this thread.",
                        "schema": {"type": "string"}}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}}},
        "responses": {"200": {"description": "The completion, or its chunks as SSE",
                              "content": {"application/json": {"schema": completion},
                                          "text/event-stream": {"schema": {"type": "string"}}}},
                      **_errors((400, 401, 404, 409, 413, 415, 429, 500, 502, 504))},
    }
    return operation, {"ChatCompletionRequest": request_schema(),
                       "OpenAIError": _error_schema()}


def models_openapi() -> tuple[dict[str, Any], dict[str, Any]]:
    """`GET /v1/models`'s documentation and the component schemas it refers to."""
    model = {"type": "object", "required": ["id", "object", "created", "owned_by"], "properties": {
        "id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"},
        "owned_by": {"type": "string"}}}
    listing = {"type": "object", "required": ["object", "data"], "properties": {
        "object": {"const": "list"}, "data": {"type": "array", "items": model}}}
    operation = {
        "description": f"The models: {MODEL_ID} (the supervisor chooses the specialist) and "
                       f"{MODEL_ID}-<specialist> per specialist set up here.",
        "responses": {"200": {"description": "The models",
                              "content": {"application/json": {"schema": listing}}},
                      **_errors((401, 500, 502))},
    }
    return operation, {"OpenAIError": _error_schema()}
