"""A loopback server speaking the OpenAI / Azure OpenAI chat-completions protocol.

Serves `POST /v1/chat/completions` (OpenAI) and
`POST /openai/deployments/{deployment}/chat/completions?api-version=...` (Azure OpenAI), streamed
(`chat.completion.chunk` SSE ending with `data: [DONE]`, tool-call deltas, a usage chunk) or not.
Replies come from a script of turns, in order; with the script empty it follows a default
policy (call the first tool with the question, then answer). Every request is recorded, and so
is each stream's outcome (completed, or cancelled because the client went away).
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
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.loopback_http import serve_app


@dataclass
class Turn:
    """One scripted model reply: text chunks (with pacing) or tool calls."""

    chunks: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    first_delay: float = 0.0
    delay: float = 0.0
    status: int = 200
    fail_after: int | None = None  # drop the connection after this many chunks


@dataclass
class Recorded:
    """One request as the server saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class StreamOutcome:
    """How one streamed reply ended."""

    chunks_sent: int = 0
    completed: bool = False
    cancelled: bool = False


class FakeOpenAI:
    """The server's state: script, recorded requests, stream outcomes, default pacing."""

    def __init__(self, first_delay: float = 0.0, token_delay: float = 0.0,
                 answer_tokens: int = 20) -> None:
        self.script: list[Turn] = []
        self.requests: list[Recorded] = []
        self.outcomes: list[StreamOutcome] = []
        self.first_delay = first_delay
        self.token_delay = token_delay
        self.answer_tokens = answer_tokens
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self._completions, methods=["POST"]),
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
        last_user = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        question = str(last_user.get("content", ""))
        after_user = messages[messages.index(last_user) + 1:] if last_user in messages else []
        forced = body.get("tool_choice") not in (None, "auto", "none")
        if tools and (forced or not any(m.get("role") == "tool" for m in after_user)):
            fn = tools[0]["function"]
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
        self.requests.append(Recorded(request.url.path, dict(request.query_params),
                                      {k.lower(): v for k, v in request.headers.items()}, body))
        turn = self._next_turn(body)
        if turn.status != 200:
            return JSONResponse({"error": {"message": "scripted failure", "type": "server_error",
                                           "code": str(turn.status)}}, status_code=turn.status)
        model = str(body.get("model") or request.path_params.get("deployment", "fake"))
        if body.get("stream"):
            outcome = StreamOutcome()
            self.outcomes.append(outcome)
            return StreamingResponse(self._stream(turn, model, outcome),
                                     media_type="text/event-stream")
        return JSONResponse(self._whole(turn, model))

    @staticmethod
    def _tool_call_json(turn: Turn) -> list[dict[str, Any]]:
        return [{"id": call.get("id") or f"call_{uuid.uuid4().hex[:20]}", "type": "function",
                 "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}
                for call in turn.tool_calls]

    def _whole(self, turn: Turn, model: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(turn.chunks) or None}
        if turn.tool_calls:
            message["tool_calls"] = self._tool_call_json(turn)
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if turn.tool_calls else "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    async def _stream(self, turn: Turn, model: str, outcome: StreamOutcome) -> AsyncIterator[str]:
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None,
                  usage: dict[str, int] | None = None) -> str:
            payload: dict[str, Any] = {
                "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [] if usage else [{"index": 0, "delta": delta,
                                              "finish_reason": finish}]}
            if usage:
                payload["usage"] = usage
            return f"data: {json.dumps(payload)}\n\n"

        try:
            if turn.first_delay:
                await asyncio.sleep(turn.first_delay)
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
            yield chunk({}, finish="tool_calls" if turn.tool_calls else "stop")
            yield chunk({}, usage={"prompt_tokens": 10, "completion_tokens": len(turn.chunks),
                                   "total_tokens": 10 + len(turn.chunks)})
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
