"""A loopback server speaking the OpenAI / Azure OpenAI chat-completions protocol, as strictly as
the service.

Paths:
- `POST /v1/chat/completions`: OpenAI (and OpenAI-compatible servers);
- `POST /openai/v1/chat/completions`: the Azure OpenAI v1 API (the deployment is the body's
  `model`; no dated `api-version`);
- `POST /openai/deployments/{deployment}/chat/completions?api-version=...`: the classic Azure
  path (an `api-version` is required).

It refuses what Azure refuses, with Azure's status, error body and headers: no credentials
(401), a wrong `api-key` / bearer token when keys or tokens are configured (401), a token of an
identity without the data role (403), an unknown deployment (404), and every body rule of
`standins.azure_rules` (parameters by the deployment's kind, `reasoning_effort` by the model
behind it: the one `models` names, else the deployment's own name; tools, tool-call
histories).

Streams are `chat.completion.chunk` SSE ending with `data: [DONE]`: on the Azure paths a first
chunk carries `prompt_filter_results`, content chunks carry `content_filter_results`, and a
usage chunk (with reasoning tokens and `prompt_tokens_details.cached_tokens`) closes the
stream. Input tokens are a fixed 10 per request, or, with `count_prompt_tokens`, counted from
the prompt with the cached part a prompt cache would serve (`standins.prompt_cache`). Replies
come from a script of turns (`standins.model_turns.Turn`), in order; a turn can also fail as
Azure does (a status with its body and headers, the connection dropped mid-stream,
`finish_reason: content_filter`). With the script empty the server follows the default policy
of `standins.model_turns`. Every request is recorded, and so is each stream's outcome
(completed, or cancelled because the client left).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from standins.azure_rules import Kind, Refused, check_body, invalid
from standins.loopback_http import serve_app
from standins.model_turns import (
    Turn,
    azure_error,
    default_turn,
    prompt_filtered,
    rate_limited,
    server_error,
)
from standins.prompt_cache import PromptCache

__all__ = ["FakeOpenAI", "Recorded", "Refusal", "StreamOutcome", "Turn", "azure_error",
           "fake_openai", "prompt_filtered", "rate_limited", "server_error"]

V1_API_VERSIONS = {"v1", "preview", "latest"}


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


class FakeOpenAI:
    """The server's state: script, recorded requests, refusals, stream outcomes, pacing.

    `deployments` maps deployment names to their kind (None: any name is a reasoning
    deployment); `models` maps deployment names to the model they serve (`gpt-5.4-mini`,
    `o4-mini`, ...), for the `reasoning_effort` rules of that model; a name it doesn't map is
    taken as the model's own (a deployment named `gpt-5.4-mini` serves gpt-5.4-mini, so its
    rules apply unless `models` says otherwise). `api_keys` / `tokens`:
    the keys and Entra tokens accepted (None: any credential is accepted, but one is
    required); `forbidden_tokens`: valid tokens of identities without the data role (403).
    `count_prompt_tokens`: report input tokens counted from the prompt, and the cached part
    (`standins.prompt_cache`), instead of a fixed 10.
    """

    def __init__(self, first_delay: float = 0.0, token_delay: float = 0.0,
                 answer_tokens: int = 20, *, deployments: dict[str, Kind] | None = None,
                 api_keys: set[str] | None = None, tokens: set[str] | None = None,
                 forbidden_tokens: set[str] | None = None,
                 models: dict[str, str] | None = None,
                 count_prompt_tokens: bool = False) -> None:
        self.script: list[Turn] = []
        self.requests: list[Recorded] = []
        self.refusals: list[Refusal] = []
        self.outcomes: list[StreamOutcome] = []
        self.first_delay = first_delay
        self.token_delay = token_delay
        self.answer_tokens = answer_tokens
        self.deployments = deployments
        self.models = models
        self.prompt_cache = PromptCache() if count_prompt_tokens else None
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
        return default_turn(body, self.first_delay, self.token_delay, self.answer_tokens)

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
            check_body(body, self._kind(model) if azure else "reasoning",
                       (self.models or {}).get(model, model))
        except Refused as refused:
            self.refusals.append(Refusal(refused.status, str(refused.error.get("code")),
                                         refused.error.get("param"),
                                         str(refused.error.get("message"))))
            return JSONResponse({"error": refused.error}, status_code=refused.status,
                                headers=refused.headers)
        prompt = self.prompt_cache.usage(body) if self.prompt_cache is not None else (10, 0)
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
            return StreamingResponse(
                self._stream(turn, model, outcome, azure, include_usage, prompt),
                media_type="text/event-stream")
        return JSONResponse(self._whole(turn, model, prompt))

    # --- what Azure refuses ---------------------------------------------------------------
    def _check_route(self, request: Request, body: dict[str, Any]) -> str:
        version = request.query_params.get("api-version")
        if request.url.path.startswith("/openai/v1/"):
            if version is not None and version not in V1_API_VERSIONS:
                raise invalid(f"api-version '{version}' is not supported on the v1 API; omit "
                               "it.", "api-version", "BadRequest")
            model = str(body.get("model") or "")
            if not model:
                raise invalid("you must provide a model parameter", "model", None)
        else:
            if not version:
                raise Refused(404, {"code": "404", "message": "Resource not found"})
            model = str(request.path_params["deployment"])
        if self.deployments is not None and model not in self.deployments:
            raise Refused(404, {"code": "DeploymentNotFound", "message": (
                "The API deployment for this resource does not exist. If you created the "
                "deployment within the last 5 minutes, please wait a moment and try again.")})
        return model

    def _kind(self, model: str) -> Kind:
        return (self.deployments or {}).get(model, "reasoning")

    def _check_auth(self, headers: dict[str, str]) -> None:
        key = headers.get("api-key")
        bearer = headers.get("authorization", "")
        token = bearer[len("Bearer "):] if bearer.startswith("Bearer ") else None
        denied = Refused(401, {"code": "401", "message": (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
            "to provide a valid key for an active subscription and use a correct regional API "
            "endpoint for your resource.")})
        if key is None and token is None:
            raise denied
        if token is not None and token in self.forbidden_tokens:
            raise Refused(403, {"code": "PermissionDenied", "message": (
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

    # --- replies ---------------------------------------------------------------------------
    @staticmethod
    def _tool_call_json(turn: Turn) -> list[dict[str, Any]]:
        return [{"id": call.get("id") or f"call_{uuid.uuid4().hex[:20]}", "type": "function",
                 "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}
                for call in turn.tool_calls]

    @staticmethod
    def _usage(completion_tokens: int, reasoning_tokens: int,
               prompt: tuple[int, int]) -> dict[str, Any]:
        """Azure's `usage`; `prompt`: (input tokens, of which served from the prompt cache)."""
        completion_tokens += reasoning_tokens  # the service counts them as completion tokens
        prompt_tokens, cached = prompt
        return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached},
                "completion_tokens_details": {"reasoning_tokens": reasoning_tokens}}

    def _whole(self, turn: Turn, model: str, prompt: tuple[int, int]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(turn.chunks) or None}
        if turn.tool_calls:
            message["tool_calls"] = self._tool_call_json(turn)
        finish = turn.finish_reason or ("tool_calls" if turn.tool_calls else "stop")
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": self._usage(5, 0, prompt)}

    async def _stream(self, turn: Turn, model: str, outcome: StreamOutcome, azure: bool,
                      include_usage: bool, prompt: tuple[int, int]) -> AsyncIterator[str]:
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
                         "usage": self._usage(len(turn.chunks), turn.reasoning_tokens,
                                              prompt)}
                yield f"data: {json.dumps(usage)}\n\n"
            yield "data: [DONE]\n\n"
            outcome.completed = True
        except asyncio.CancelledError:
            outcome.cancelled = True
            raise


@contextmanager
def fake_openai(**kwargs: Any) -> Iterator[tuple[FakeOpenAI, str]]:
    """Run a `FakeOpenAI` on a free loopback port; yields it and its base URL."""
    server = FakeOpenAI(**kwargs)
    with serve_app(server.app) as base_url:
        yield server, base_url
