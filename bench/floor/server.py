"""The floor: the least a Python server does per streamed token for one `@docsearch` turn.

No LangChain, no LangGraph, no OpenAI SDK, no search, no checkpoint. Per `POST /stream`
(`{"user_input", "thread_id"?}`), exactly:

1. sends `metadata` (`{"run_id", "thread_id"}`);
2. model call 1 (the tool round): one streamed chat-completions request with `httpx`
   (`POST {AZURE_OPENAI_ENDPOINT}/openai/v1/chat/completions`, `api-key` header, a system
   prompt, the question, one declared tool `search_documents(query)`, `stream_options.
   include_usage`); every SSE line is parsed with `json.loads` and the tool call's id, name and
   argument fragments are accumulated (content deltas, if any, are sent as `data` events);
3. sends `on_tool_start`, then `on_tool_end` with a fixed tool result (no search is run);
4. model call 2 (the answer): the same request plus the assistant's tool call and the tool
   message; every SSE line is parsed with `json.loads` and each content delta is sent at once
   as one `data` event (`id:`, `event:`, one `data:` line per line of text);
5. sends `end` with the whole answer.

Events are strings yielded to Starlette's `StreamingResponse` on uvicorn (same uvicorn options
as our dev server). The same two model calls per turn as ours, so the comparison is fair.

    python -m bench.floor.server --port P     (AZURE_OPENAI_* settings from the environment)
"""

from __future__ import annotations

import argparse
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SYSTEM = "Answer only from the results of your tools, with citations."
TOOL = {"type": "function", "function": {
    "name": "search_documents", "description": "Full-text search over the document index.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}
TOOL_RESULT = json.dumps([{"title": "The Moon", "source": "moon.md",
                           "text": "The Moon is about 384,400 km from Earth."}])
_client: dict[str, httpx.AsyncClient] = {}


def _url() -> str:
    return os.environ["AZURE_OPENAI_ENDPOINT"].rstrip("/") + "/openai/v1/chat/completions"


def _http() -> httpx.AsyncClient:
    if "c" not in _client:  # the OpenAI SDK's default pool size, so both pool alike
        _client["c"] = httpx.AsyncClient(timeout=httpx.Timeout(120.0, connect=10.0),
                                         limits=httpx.Limits(max_connections=1000,
                                                             max_keepalive_connections=100))
    return _client["c"]


def _event(number: int, event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"id: {number}\nevent: {event}\n{lines}\n"


async def _chat(messages: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """One streamed chat-completions call: each chunk as a dict."""
    body = {"model": os.environ.get("AZURE_OPENAI_CHAT_DEPLOYMENT", "gpt-5.4-mini"),
            "messages": messages, "tools": [TOOL], "stream": True,
            "stream_options": {"include_usage": True}}
    headers = {"api-key": os.environ.get("AZURE_OPENAI_API_KEY", "")}
    async with _http().stream("POST", _url(), json=body, headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                yield json.loads(line[6:])


async def _turn(question: str, run_id: str, thread_id: str) -> AsyncIterator[str]:
    n = 1
    yield _event(n, "metadata", json.dumps({"run_id": run_id, "thread_id": thread_id}))
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM},
                                      {"role": "user", "content": question}]
    answer: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    try:
        for round_ in range(2):
            async for chunk in _chat(messages):
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    for part in delta.get("tool_calls") or []:
                        call = calls.setdefault(part["index"], {"id": "", "name": "", "args": ""})
                        call["id"] = part.get("id") or call["id"]
                        fn = part.get("function") or {}
                        call["name"] = fn.get("name") or call["name"]
                        call["args"] += fn.get("arguments") or ""
                    if delta.get("content"):
                        answer.append(delta["content"])
                        n += 1
                        yield _event(n, "data", delta["content"])
            if round_ or not calls:
                break
            tool_calls = [{"id": c["id"], "type": "function",
                           "function": {"name": c["name"], "arguments": c["args"]}}
                          for c in calls.values()]
            messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
            for c in calls.values():
                base = {"agent": "docsearch", "name": c["name"], "tool_call_id": c["id"]}
                n += 1
                yield _event(n, "on_tool_start", json.dumps({**base, "input": c["args"]}))
                messages.append({"role": "tool", "tool_call_id": c["id"], "content": TOOL_RESULT})
                n += 1
                yield _event(n, "on_tool_end", json.dumps(
                    {**base, "output": TOOL_RESULT, "status": "success"}))
        n += 1
        yield _event(n, "end", "".join(answer))
    except httpx.HTTPError as exc:
        n += 1
        yield _event(n, "error", json.dumps({"status_code": 502, "message": str(exc),
                                             "run_id": run_id}))


async def stream(request: Request) -> Response:
    """POST /stream: one turn as Server-Sent Events."""
    body = await request.json()
    thread_id = str(body.get("thread_id") or uuid.uuid4())
    return StreamingResponse(_turn(str(body["user_input"]), str(uuid.uuid4()), thread_id),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


async def health(request: Request) -> Response:
    """Liveness."""
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/stream", stream, methods=["POST"]),
                        Route("/health", health, methods=["GET"])])


def main() -> None:
    """Serve until interrupted (uvicorn, same options as our dev server)."""
    parser = argparse.ArgumentParser(description="the floor server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info",
                timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
