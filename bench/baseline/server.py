"""The seed notebook's FastAPI backend design, serving OUR graph (`agent.bot.build_bot`).

What the seed did: `/stream` runs `graph.astream_events(input, config, version="v2")`, keeps
`on_chat_model_stream` chunks (and `on_tool_start` / `on_tool_end`) and sends them through
`sse-starlette`'s `EventSourceResponse`; `/batch` answers its questions one after another;
`/invoke` calls `ainvoke`; the model client is langchain-openai's own `ChatOpenAI` /
`AzureChatOpenAI` (the OpenAI SDK parses every streamed chunk), as the seed used; and the seed's
flow, a routing call then the chosen specialist's own calls (`build_graph(first_call="route")`).
Same graph, tools and checkpointer as ours.

    python -m bench.baseline.server --port P      (settings from the environment, as ours)
"""

from __future__ import annotations

import argparse
import inspect
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import uvicorn
from fastapi import FastAPI
from langchain_core.messages import HumanMessage
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from agent import graph as graph_module
from agent.bot import Bot, build_bot
from agent.models import factory
from agent.settings import get_settings

# The seed's model client: langchain-openai's own classes, not our fast streaming read (code
# from before the fast read has no such choice: it builds those classes anyway).
if "fast_stream" in inspect.signature(factory.build_chat_model).parameters:
    factory.build_chat_model = partial(factory.build_chat_model, fast_stream=False)
# The seed's flow: a routing call (structured output), then the chosen specialist's own calls
# (code from before the supervisor's first call acted has no such choice: it routes anyway).
if "first_call" in inspect.signature(graph_module.build_graph).parameters:
    graph_module.build_graph = partial(graph_module.build_graph, first_call="route")

_state: dict[str, Bot] = {}


class Question(BaseModel):
    """The seed's request body."""

    user_input: str
    thread_id: str = ""


class Questions(BaseModel):
    """The seed's `/batch` body."""

    questions: list[str]
    thread_id: str = ""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the bot at start (as the seed built its graph at import), close it at exit."""
    _state["bot"] = await build_bot(get_settings())
    yield
    await _state.pop("bot").aclose()


app = FastAPI(title="Baseline (seed design)", lifespan=lifespan)


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id or str(uuid.uuid4())}}


async def _answer(question: str, thread_id: str) -> str:
    state = await _state["bot"].graph.ainvoke({"messages": [HumanMessage(question)]},
                                              _config(thread_id))
    return str(state["messages"][-1].text)


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@app.post("/invoke")
async def invoke(body: Question) -> dict[str, str]:
    """One question, answered with `ainvoke`."""
    return {"final_answer": await _answer(body.user_input, body.thread_id)}


@app.post("/batch")
async def batch(body: Questions) -> dict[str, list[str]]:
    """Several questions, one after another."""
    return {"answers": [await _answer(q, body.thread_id) for q in body.questions]}


async def _events(question: str, thread_id: str) -> AsyncIterator[dict[str, str]]:
    run_id = str(uuid.uuid4())
    yield {"event": "metadata", "data": json.dumps({"run_id": run_id})}
    text: list[str] = []
    try:
        async for event in _state["bot"].graph.astream_events(
            {"messages": [HumanMessage(question)]}, _config(thread_id), version="v2"
        ):
            kind = event["event"]
            if kind == "on_chat_model_stream":
                content = event["data"]["chunk"].content
                if content:
                    text.append(content)
                    yield {"event": "data", "data": content}
            elif kind in ("on_tool_start", "on_tool_end"):
                yield {"event": kind, "data": json.dumps(
                    {"name": event["name"], "data": str(event["data"])[:500]})}
        yield {"event": "end", "data": "".join(text)}
    except Exception as exc:  # the seed reported failures as an `error` event
        yield {"event": "error", "data": json.dumps({"message": str(exc)})}


@app.post("/stream")
async def stream(body: Question) -> EventSourceResponse:
    """One question as Server-Sent Events."""
    return EventSourceResponse(_events(body.user_input, body.thread_id))


def main() -> None:
    """Serve until interrupted (uvicorn, same options as our dev server)."""
    parser = argparse.ArgumentParser(description="the baseline server")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info",
                timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
