"""A loopback server speaking the OpenAI / Azure OpenAI chat-completions protocol, as strictly as
the service.

Paths:
- `POST /v1/chat/completions`: OpenAI (and OpenAI-compatible servers);
- `POST /openai/v1/chat/completions`: the Azure OpenAI v1 API (the deployment is the body's
  `model`; no dated `api-version`);
- `POST /openai/deployments/{deployment}/chat/completions?api-version=...`: the classic Azure
  path (an `api-version` is required).

It refuses what Azure refuses, with Azure's status, error body and headers:
- no credentials (401), a wrong `api-key` / bearer token when keys or tokens are configured
  (401), a token of an identity without the data role (403), an unknown deployment (404);
- by the deployment's kind: a *reasoning* deployment (gpt-5 family, o-series; the default)
  refuses `temperature`/`top_p` other than 1, penalties, `logprobs`, `logit_bias`, `max_tokens`
  and `parallel_tool_calls`; a *classic* one (gpt-4.1) refuses `reasoning_effort`;
- more than 128 tools, a `tool_choice` without tools or naming an undeclared tool,
  `stream_options` without `stream`, and message histories where a tool call has no tool
  message or a tool message answers no call.

Streams are `chat.completion.chunk` SSE ending with `data: [DONE]`: on the Azure paths a first
chunk carries `prompt_filter_results`, content chunks carry `content_filter_results`, and a
usage chunk (with reasoning tokens) closes the stream. Replies come from a script of turns, in
order; a turn can also fail as Azure does (a status with its body and headers, the connection
dropped mid-stream, `finish_reason: content_filter`). With the script empty the server follows
a default policy (call the first tool with the question, then answer). Every request is
recorded, and so is each stream's outcome (completed, or cancelled because the client left).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from standins.loopback_http import serve_app

Kind = Literal["reasoning", "classic"]
MAX_TOOLS = 128
REASONING_EFFORTS = {"none", "minimal", "low", "medium", "high"}
V1_API_VERSIONS = {"v1", "preview", "latest"}


@dataclass
class Turn:
    """One scripted model reply: text chunks (with pacing) or tool calls, or a failure."""

    chunks: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    first_delay: float = 0.0  # after the response headers, before the first chunk
    delay: float = 0.0
    header_delay: float = 0.0  # before the response starts at all
    status: int = 200
    fail_after: int | None = None  # drop the connection after this many chunks
    error: dict[str, Any] | None = None  # the JSON body of a failure (Azure's shape)
    headers: dict[str, str] = field(default_factory=dict)  # headers of a failure
    finish_reason: str | None = None  # e.g. "content_filter" to cut the answer that way
    reasoning_tokens: int = 0  # reported in the usage chunk (and counted in completion_tokens)
    hold: threading.Event | None = None  # the reply starts only once the test sets it


def azure_error(http_status: int, code: str, message: str, *,
                headers: dict[str, str] | None = None, **extra: Any) -> Turn:
    """A scripted failure answered as Azure OpenAI answers it (`extra`: more body fields)."""
    return Turn(status=http_status, error={"code": code, "message": message, **extra},
                headers=headers or {})


def rate_limited(retry_after: int = 2) -> Turn:
    """429 with Azure's body and both retry headers."""
    return azure_error(
        429, "429", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
        "have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry "
        f"after {retry_after} seconds.",
        headers={"retry-after": str(retry_after), "retry-after-ms": str(retry_after * 1000)})


def prompt_filtered() -> Turn:
    """The 400 Azure answers when the prompt trips the content filter."""
    return azure_error(
        400, "content_filter", "The response was filtered due to the prompt triggering Azure "
        "OpenAI's content management policy. Please modify your prompt and retry.",
        param="prompt", status=400,
        innererror={"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
            "hate": {"filtered": False, "severity": "safe"},
            "self_harm": {"filtered": False, "severity": "safe"},
            "sexual": {"filtered": False, "severity": "safe"},
            "violence": {"filtered": True, "severity": "high"}}})


def server_error(status: int = 500) -> Turn:
    """A 5xx with Azure's body."""
    return azure_error(status, "InternalServerError", "The server had an error processing your "
                       "request. Sorry about that! You can retry your request.")


@dataclass
class Recorded:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Refusal:
    """A request the server refused, and why."""

    status: int
    code: str
    param: str | None
    message: str


@dataclass
class StreamOutcome:
    """How one streamed reply ended."""

    chunks_sent: int = 0
    completed: bool = False
    cancelled: bool = False


class _Refused(Exception):
    def __init__(self, status: int, error: dict[str, Any],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error.get("message"))
        self.status, self.error, self.headers = status, error, headers or {}


def _invalid(message: str, param: str | None, code: str | None) -> _Refused:
    return _Refused(400, {"message": message, "type": "invalid_request_error", "param": param,
                          "code": code})


class FakeOpenAI:
    """The server's state: script, recorded requests, refusals, stream outcomes, pacing.

    `deployments` maps deployment names to their kind (None: any name is a reasoning
    deployment). `api_keys` / `tokens`: the keys and Entra tokens accepted (None: any
    credential is accepted, but one is required); `forbidden_tokens`: valid tokens of
    identities without the data role (403).
    """

    def __init__(self, first_delay: float = 0.0, token_delay: float = 0.0,
                 answer_tokens: int = 20, *, deployments: dict[str, Kind] | None = None,
                 api_keys: set[str] | None = None, tokens: set[str] | None = None,
                 forbidden_tokens: set[str] | None = None) -> None:
        self.script: list[Turn] = []
        self.requests: list[Recorded] = []
        self.refusals: list[Refusal] = []
        self.outcomes: list[StreamOutcome] = []
        self.first_delay = first_delay
        self.token_delay = token_delay
        self.answer_tokens = answer_tokens
        self.deployments = deployments
        self.api_keys = api_keys
        self.tokens = tokens
        self.forbidden_tokens = forbidden_tokens or set()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self._completions, methods=["POST"]),
            Route("/openai/v1/chat/completions", self._completions, methods=["POST"]),
            Route("/openai/deployments/{deployment}/chat/completions", self._completions,
                  methods=["POST"]),
        ])

    def add(self, *turns: Turn) -> None:
        """Append scripted turns."""
        with self._lock:
            self.script.extend(turns)

    def _next_turn(self, body: dict[str, Any]) -> Turn:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        return self._default_turn(body)

    def _default_turn(self, body: dict[str, Any]) -> Turn:
        messages = body.get("messages", [])
        tools = body.get("tools") or []
        choice = body.get("tool_choice")
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        question = str(last_user.get("content", ""))
        after_user = messages[messages.index(last_user) + 1:] if last_user in messages else []
        forced = isinstance(choice, dict) or choice == "required"
        may_call = tools and choice != "none"
        if may_call and (forced or not any(m.get("role") == "tool" for m in after_user)):
            fn = tools[0]["function"]
            if isinstance(choice, dict):
                name = choice["function"]["name"]
                fn = next(t["function"] for t in tools if t["function"]["name"] == name)
            props = fn.get("parameters", {}).get("properties", {})
            args = {name: (schema.get("enum") or [question])[0] for name, schema in props.items()}
            return Turn(tool_calls=[{"name": fn["name"], "arguments": args}],
                        first_delay=self.first_delay)
        words = [f" word{i}" for i in range(self.answer_tokens)]
        return Turn(chunks=["Answer:", *words], first_delay=self.first_delay,
                    delay=self.token_delay)

    async def _completions(self, request: Request) -> Response:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        response = await self._reply(request)
        if isinstance(response, StreamingResponse):
            response.body_iterator = self._until_done(response.body_iterator)
        else:
            self._done()
        return response

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    async def _until_done(self, body: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for part in body:
                yield part
        finally:
            self._done()

    async def _reply(self, request: Request) -> Response:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.url.path, dict(request.query_params), headers,
                                      body))
        try:
            azure = request.url.path.startswith("/openai/")
            model = self._check_route(request, body) if azure else str(body.get("model", ""))
            if azure:
                self._check_auth(headers)
            self._check_body(body, self._kind(model) if azure else "reasoning")
        except _Refused as refused:
            self.refusals.append(Refusal(refused.status, str(refused.error.get("code")),
                                         refused.error.get("param"),
                                         str(refused.error.get("message"))))
            return JSONResponse({"error": refused.error}, status_code=refused.status,
                                headers=refused.headers)
        turn = self._next_turn(body)
        if turn.header_delay:
            await asyncio.sleep(turn.header_delay)
        if turn.status != 200:
            error = turn.error or {"message": "scripted failure", "type": "server_error",
                                   "code": str(turn.status)}
            return JSONResponse({"error": error}, status_code=turn.status, headers=turn.headers)
        if body.get("stream"):
            outcome = StreamOutcome()
            self.outcomes.append(outcome)
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(self._stream(turn, model, outcome, azure, include_usage),
                                     media_type="text/event-stream")
        return JSONResponse(self._whole(turn, model))

    # --- what Azure refuses ---------------------------------------------------------------
    def _check_route(self, request: Request, body: dict[str, Any]) -> str:
        version = request.query_params.get("api-version")
        if request.url.path.startswith("/openai/v1/"):
            if version is not None and version not in V1_API_VERSIONS:
                raise _invalid(f"api-version '{version}' is not supported on the v1 API; omit "
                               "it.", "api-version", "BadRequest")
            model = str(body.get("model") or "")
            if not model:
                raise _invalid("you must provide a model parameter", "model", None)
        else:
            if not version:
                raise _Refused(404, {"code": "404", "message": "Resource not found"})
            model = str(request.path_params["deployment"])
        if self.deployments is not None and model not in self.deployments:
            raise _Refused(404, {"code": "DeploymentNotFound", "message": (
                "The API deployment for this resource does not exist. If you created the "
                "deployment within the last 5 minutes, please wait a moment and try again.")})
        return model

    def _kind(self, model: str) -> Kind:
        return (self.deployments or {}).get(model, "reasoning")

    def _check_auth(self, headers: dict[str, str]) -> None:
        key = headers.get("api-key")
        bearer = headers.get("authorization", "")
        token = bearer[len("Bearer "):] if bearer.startswith("Bearer ") else None
        denied = _Refused(401, {"code": "401", "message": (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
            "to provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.")})
        if key is None and token is None:
            raise denied
        if token is not None and token in self.forbidden_tokens:
            raise _Refused(403, {"code": "PermissionDenied", "message": (
                "The principal lacks the required data action Microsoft.CognitiveServices/"
                "accounts/OpenAI/deployments/chat/completions/action to perform POST "
                "/openai/deployments/{deployment-id}/chat/completions operation.")})
        keys = self.api_keys
        tokens = self.tokens
        if keys is None and tokens is None:
            return
        # The v1 API also takes a key as a bearer token (the OpenAI client sends it so).
        if (key is not None and key in (keys or set())) or (
                token is not None and (token in (tokens or set()) or token in (keys or set()))):
            return
        raise denied

    def _check_body(self, body: dict[str, Any], kind: Kind) -> None:
        if kind == "reasoning":
            self._check_reasoning_params(body)
        elif "reasoning_effort" in body:
            raise _invalid("Unrecognized request argument supplied: reasoning_effort",
                           "reasoning_effort", "unsupported_parameter")
        effort = body.get("reasoning_effort")
        if effort is not None and effort not in REASONING_EFFORTS:
            raise _invalid(f"Invalid value: '{effort}'. Supported values are: 'minimal', "
                           "'low', 'medium', and 'high'.", "reasoning_effort", "invalid_value")
        if body.get("stream_options") is not None and not body.get("stream"):
            raise _invalid("The 'stream_options' parameter is only allowed when 'stream' is "
                           "enabled.", "stream_options", None)
        self._check_tools(body)
        _check_messages(body.get("messages"))

    @staticmethod
    def _check_reasoning_params(body: dict[str, Any]) -> None:
        for name, default in (("temperature", 1), ("top_p", 1)):
            if name in body and body[name] != default:
                raise _invalid(f"Unsupported value: '{name}' does not support {body[name]} "
                               f"with this model. Only the default ({default}) value is "
                               "supported.", name, "unsupported_value")
        for name in ("presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
                     "logit_bias", "parallel_tool_calls"):
            if name in body:
                raise _invalid(f"Unsupported parameter: '{name}' is not supported with this "
                               "model.", name, "unsupported_parameter")
        if "max_tokens" in body:
            raise _invalid("Unsupported parameter: 'max_tokens' is not supported with this "
                           "model. Use 'max_completion_tokens' instead.", "max_tokens",
                           "unsupported_parameter")

    @staticmethod
    def _check_tools(body: dict[str, Any]) -> None:
        tools = body.get("tools")
        if tools is not None and len(tools) > MAX_TOOLS:
            raise _invalid(f"Invalid 'tools': array too long. Expected an array with maximum "
                           f"length {MAX_TOOLS}, but got an array with length {len(tools)} "
                           "instead.", "tools", "array_above_max_length")
        choice = body.get("tool_choice")
        if choice is not None and not tools:
            raise _invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed "
                           "when 'tools' are specified.", "tool_choice", None)
        if isinstance(choice, dict):
            names = {t["function"]["name"] for t in tools or []}
            if choice.get("function", {}).get("name") not in names:
                raise _invalid("Invalid value for 'tool_choice': the function is not among "
                               "'tools'.", "tool_choice", None)

    # --- replies ---------------------------------------------------------------------------
    @staticmethod
    def _tool_call_json(turn: Turn) -> list[dict[str, Any]]:
        return [{"id": call.get("id") or f"call_{uuid.uuid4().hex[:20]}", "type": "function",
                 "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}
                for call in turn.tool_calls]

    @staticmethod
    def _usage(completion_tokens: int, reasoning_tokens: int = 0) -> dict[str, Any]:
        completion_tokens += reasoning_tokens  # the service counts them as completion tokens
        return {"prompt_tokens": 10, "completion_tokens": completion_tokens,
                "total_tokens": 10 + completion_tokens,
                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}

    def _whole(self, turn: Turn, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(turn.chunks) or None}
        if turn.tool_calls:
            message["tool_calls"] = self._tool_call_json(turn)
        finish = turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": self._usage(5)}

    async def _stream(self, turn: Turn, model: str, outcome: StreamOutcome, azure: bool,
                      include_usage: bool) -> AsyncIterator[str]:
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        created = int(time.time())
        safe = {name: {"filtered": False, "severity": "safe"}
                for name in ("hate", "self_harm", "sexual", "violence")}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": finish}
            if azure and delta.get("content"):
                choice["content_filter_results"] = safe
            payload = {"id": cid, "object": "chat.completion.chunk", "created": created,
                       "model": model, "choices": [choice]}
            return f"data: {json.dumps(payload)}\n\n"

        try:
            if turn.hold is not None:
                await asyncio.to_thread(turn.hold.wait, 60)
            if turn.first_delay:
                await asyncio.sleep(turn.first_delay)
            if azure:
                filters = {"id": "", "object": "", "created": 0, "model": "", "choices": [],
                           "prompt_filter_results": [{"prompt_index": 0,
                                                      "content_filter_results": safe}]}
                yield f"data: {json.dumps(filters)}\n\n"
            yield chunk({"role": "assistant", "content": ""})
            for index, call in enumerate(self._tool_call_json(turn)):
                yield chunk({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                             "function": {"name": call["function"]["name"],
                                                          "arguments": ""}}]})
                arguments = call["function"]["arguments"]
                half = len(arguments) // 2
                for part in (arguments[:half], arguments[half:]):
                    yield chunk({"tool_calls": [{"index": index,
                                                 "function": {"arguments": part}}]})
            for number, text in enumerate(turn.chunks):
                if turn.fail_after is not None and number >= turn.fail_after:
                    raise ConnectionAbortedError("scripted mid-stream failure")
                if number and turn.delay:
                    await asyncio.sleep(turn.delay)
                yield chunk({"content": text})
                outcome.chunks_sent += 1
            finish = turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")
            yield chunk({}, finish=finish)
            if include_usage:
                usage = {"id": cid, "object": "chat.completion.chunk", "created": created,
                         "model": model, "choices": [],
                         "usage": self._usage(len(turn.chunks), turn.reasoning_tokens)}
                yield f"data: {json.dumps(usage)}\n\n"
            yield "data: [DONE]\n\n"
            outcome.completed = True
        except asyncio.CancelledError:
            outcome.cancelled = True
            raise


def _check_messages(messages: Any) -> None:
    """Every tool call answered by a tool message right after it; no stray tool messages."""
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty array.", "messages", None)
    pending: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                raise _invalid("Invalid parameter: messages with role 'tool' must be a "
                               "response to a preceeding message with 'tool_calls'.",
                               f"messages.[{index}].role", None)
            pending.remove(message["tool_call_id"])
            continue
        if pending:
            raise _invalid("An assistant message with 'tool_calls' must be followed by tool "
                           "messages responding to each 'tool_call_id'. The following "
                           f"tool_call_ids did not have response messages: {', '.join(pending)}",
                           f"messages.[{index}].role", None)
        if role == "assistant":
            pending = [call["id"] for call in message.get("tool_calls") or []]
    if pending:
        raise _invalid("An assistant message with 'tool_calls' must be followed by tool "
                       "messages responding to each 'tool_call_id'.", "messages", None)


@contextmanager
def fake_openai(**kwargs: Any) -> Iterator[tuple[FakeOpenAI, str]]:
    """Run a `FakeOpenAI` on a free loopback port; yields it and its base URL."""
    server = FakeOpenAI(**kwargs)
    with serve_app(server.app) as base_url:
        yield server, base_url
