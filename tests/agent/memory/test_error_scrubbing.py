"""A failing run leaves no trace of its exception's text in either thread store.

LangGraph saves a failed task's exception as an `__error__` pending write. A model service can
echo the request's key in its error body; the stores must keep only the class name and a fixed
message (`agent.memory.scrub`). Checked on the raw bytes of the SQLite file (and its WAL) and on
every item of the Cosmos container, payloads decoded.
"""

from __future__ import annotations

import base64
import json
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from azure.cosmos.aio import ContainerProxy
from langchain_core.messages import HumanMessage
from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from agent.memory.scrub import safe_message, scrub_writes, scrubbed
from agent.memory.sqlite import ThreadSqliteSaver
from agent.state import Messages
from tests.agent.memory.conftest import items_of, saver_for

SECRET = "sk-very-secret-" + uuid.uuid4().hex


def upstream_refusal() -> openai.BadRequestError:
    """What the OpenAI SDK raises for a 400 whose body echoes the caller's key everywhere."""
    body = {"error": {"message": f"bad Authorization: Bearer {SECRET}",
                      "code": f"Bearer {SECRET}", "param": f"Bearer {SECRET}"}}
    request = httpx.Request("POST", "https://model.example/openai/v1/chat/completions")
    response = httpx.Response(400, request=request, json=body)
    return openai.BadRequestError(f"Error code: 400 - {body}", response=response,
                                  body=body["error"])


def failing_graph(saver: Any, error: Callable[[], BaseException]) -> Any:
    Chat = TypedDict("Chat", {"messages": Messages})  # noqa: UP013

    async def answer(state: Any) -> dict[str, Any]:
        raise error()

    builder = StateGraph(Chat)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    return builder.compile(checkpointer=saver)


async def fail_a_run(saver: Any, thread_id: str, error: Callable[[], BaseException],
                     durability: Any) -> None:
    graph = failing_graph(saver, error)
    with pytest.raises(type(error())):
        await graph.ainvoke({"messages": [HumanMessage(content="hello")]},
                            {"configurable": {"thread_id": thread_id}}, durability=durability)


async def stored_error(saver: Any, thread_id: str) -> Any:
    saved = await saver.aget_tuple({"configurable": {"thread_id": thread_id}})
    assert saved is not None
    return next(v for _, channel, v in saved.pending_writes if channel == "__error__")


ERRORS = {
    "refused": (upstream_refusal, "BadRequestError: a service answered HTTP 400"),
    "timeout": (lambda: TimeoutError(f"waited on https://x/?sig={SECRET}"),
                "TimeoutError: a call timed out"),
    "plain": (lambda: ValueError(f"token {SECRET} in the text"), "ValueError: the run failed"),
}


@pytest.mark.parametrize("durability", ["exit", "async"])
@pytest.mark.parametrize("kind", sorted(ERRORS))
async def test_sqlite_keeps_no_trace_of_the_error_text(tmp_path: Path, kind: str,
                                                       durability: str) -> None:
    error, expected = ERRORS[kind]
    path = tmp_path / "threads.sqlite"
    async with ThreadSqliteSaver.open(path) as saver:
        await fail_a_run(saver, "t", error, durability)
        assert expected in str(await stored_error(saver, "t"))
        raw = b"".join(f.read_bytes() for f in tmp_path.iterdir())
        assert b"hello" in raw  # the run's input was saved: these are the store's bytes
        assert SECRET.encode() not in raw
    raw = b"".join(f.read_bytes() for f in tmp_path.iterdir())
    assert SECRET.encode() not in raw and expected.encode() in raw


def decoded(items: list[dict[str, Any]]) -> bytes:
    """Every item as JSON, and every payload field decoded (base64, zlib)."""
    out = [json.dumps(items).encode()]
    for item in items:
        if isinstance(item.get("data"), str):
            data = base64.b64decode(item["data"])
            out.append(zlib.decompress(data) if item.get("enc") == "zlib" else data)
    return b"\n".join(out)


@pytest.mark.parametrize("durability", ["exit", "async"])
@pytest.mark.parametrize("kind", sorted(ERRORS))
async def test_cosmos_keeps_no_trace_of_the_error_text(container: ContainerProxy, kind: str,
                                                       durability: str) -> None:
    error, expected = ERRORS[kind]
    saver = saver_for(container)
    await fail_a_run(saver, "t", error, durability)
    assert expected in str(await stored_error(saver, "t"))
    raw = decoded(await items_of(container, "t"))
    assert b"hello" in raw and expected.encode() in raw
    assert SECRET.encode() not in raw


def test_the_message_comes_from_what_the_exception_is_not_what_it_says() -> None:
    assert str(scrubbed(upstream_refusal())) == "BadRequestError: a service answered HTTP 400"
    assert safe_message(ConnectionResetError(SECRET)) == "a connection failed"
    assert scrub_writes([("__error__", "kept"), ("x", upstream_refusal())])[0][1] == "kept"

    class Sneaky(Exception):
        status_code = f"Bearer {SECRET}"

    assert str(scrubbed(Sneaky(SECRET))) == "Sneaky: the run failed"
