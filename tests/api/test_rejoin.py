"""Answers that survive the connection: a `/stream` run with `on_disconnect: continue` goes on
when its client leaves, every event is kept in the thread store, and any instance replays it
after `Last-Event-ID` and then follows it live (`GET /threads/{t}/runs/{r}/stream`).

Two dev-server processes on one store (one SQLite file; one Cosmos DB container on the
stand-in), the model a loopback Azure OpenAI-protocol server that paces its tokens.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest
import requests
from sseclient import SSEClient

from agent.memory.runlog import RunLog
from agent.memory.runlog_events import RunEvent
from api import runs, turns
from standins.model_service import FakeOpenAI, Turn, fake_openai
from standins.processes import LiveServer
from tests.api.test_thread_busy import cosmos, two_servers, wait_for
from tests.support.sse import Event

__all__ = ["cosmos"]  # the module's Cosmos DB stand-in (two_servers asks for it by name)
WORDS = [f"word{i} " for i in range(40)]
TIMEOUT = 60


def _open(server: LiveServer, body: dict[str, object]) -> tuple[requests.Response,
                                                                  Iterator[Event]]:
    resp = requests.post(f"{server.url}/stream", json=body, stream=True, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    events = (Event(e.event, e.data, e.id) for e in SSEClient(resp).events())
    return resp, events


def _join(server: LiveServer, thread_id: str, run_id: str,
          last: int | None = None) -> requests.Response:
    headers = {} if last is None else {"Last-Event-ID": str(last)}
    return requests.get(f"{server.url}/threads/{thread_id}/runs/{run_id}/stream",
                        headers=headers, stream=True, timeout=TIMEOUT)


def _events(resp: requests.Response) -> list[Event]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/event-stream")
    return [Event(e.event, e.data, e.id) for e in SSEClient(resp).events()]


def _paced(model: FakeOpenAI) -> None:
    """The next answer: 40 tokens, 50 ms apart (about 2 s)."""
    model.script.clear()
    model.add(Turn(chunks=WORDS, delay=0.05))


@pytest.fixture(params=["sqlite", "cosmos"])
def pair(request: pytest.FixtureRequest, tmp_path: Path
         ) -> Iterator[tuple[FakeOpenAI, list[LiveServer]]]:
    """Two dev servers on one store, one model server."""
    with fake_openai() as (model, model_url):
        env = {"MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
               "OPENAI_API_KEY": "k", "MODEL_MAX_RETRIES": "0", "THREAD_LEASE_SECONDS": "2",
               "SSE_KEEPALIVE_SECONDS": "0.5"}
        with two_servers(request.param, tmp_path, request, (env, env)) as servers:
            yield model, servers


def test_a_run_left_on_one_instance_is_finished_on_another(
        pair: tuple[FakeOpenAI, list[LiveServer]]) -> None:
    model, (a, b) = pair
    thread = f"rejoin-{uuid.uuid4().hex[:8]}"
    model.script.clear()
    model.add(Turn(chunks=["Hello."]))
    first = requests.post(f"{a.url}/invoke", timeout=TIMEOUT,
                          json={"user_input": "@chat hello", "thread_id": thread})
    assert first.status_code == 200, first.text
    _paced(model)
    resp, events = _open(a, {"user_input": "@chat tell me a long story", "thread_id": thread,
                             "on_disconnect": "continue"})
    seen = [next(events) for _ in range(6)]  # metadata and five tokens
    resp.close()  # the connection drops mid-answer
    assert seen[0].event == "metadata" and [e.event for e in seen[1:]] == ["data"] * 5
    run_id = seen[0].json()["run_id"]
    last = int(seen[-1].id)

    # While it runs, the thread says what is running, from either instance.
    active = requests.get(f"{b.url}/threads/{thread}", timeout=TIMEOUT).json()["active_run"]
    assert active["run_id"] == run_id and active["last_event_id"] >= 1

    rest = _events(_join(b, thread, run_id, last))
    ids = [int(e.id) for e in rest]
    assert ids == list(range(last + 1, last + 1 + len(rest)))  # in order, exactly once
    assert rest[-1].event == "end" and [e.event for e in rest[:-1]] == ["data"] * (len(rest) - 1)
    tokens = "".join(e.data for e in seen[1:]) + "".join(e.data for e in rest[:-1])
    assert tokens == "".join(WORDS) == rest[-1].data
    saved = requests.get(f"{b.url}/threads/{thread}", timeout=TIMEOUT).json()
    assert saved["messages"][-1]["content"] == tokens and saved["active_run"] is None
    assert model.outcomes[-1].completed  # the model answered to its end: nobody cancelled it

    # Without Last-Event-ID: the whole run again, from its first event, on either instance.
    whole = _events(_join(a, thread, run_id))
    assert [int(e.id) for e in whole] == list(range(1, ids[-1] + 1))
    assert [e.data for e in whole[1:6]] == [e.data for e in seen[1:]]
    # Nothing after the last event: 204. An unknown run, or a bad id: 404, 422.
    assert _join(b, thread, run_id, ids[-1]).status_code == 204
    assert _join(b, thread, "no-such-run").status_code == 404
    assert _join(b, thread, run_id, last=-1).status_code == 422  # type: ignore[arg-type]


def test_cancel_still_cancels_and_a_joiner_hears_it_stopped(
        pair: tuple[FakeOpenAI, list[LiveServer]]) -> None:
    model, (a, b) = pair
    thread = f"cancel-{uuid.uuid4().hex[:8]}"
    _paced(model)
    resp, events = _open(a, {"user_input": "@chat tell me a long story", "thread_id": thread})
    seen = [next(events) for _ in range(4)]
    resp.close()
    run_id = seen[0].json()["run_id"]
    wait_for(lambda: bool(model.outcomes) and model.outcomes[-1].cancelled,
             "the model stream to be closed")
    assert model.outcomes[-1].chunks_sent < len(WORDS)
    replay = _events(_join(b, thread, run_id, 1))
    assert [e.event for e in replay[:-1]] == ["data"] * (len(replay) - 1)
    error = replay[-1]
    assert error.event == "error" and "stopped before its end" in error.json()["message"]


def test_a_run_whose_instance_died_ends_with_an_error_for_its_joiners(
        pair: tuple[FakeOpenAI, list[LiveServer]]) -> None:
    model, (a, b) = pair
    thread = f"killed-{uuid.uuid4().hex[:8]}"
    model.script.clear()
    model.add(Turn(chunks=WORDS, delay=0.5))  # 20 s: it won't end on its own in this test
    resp, events = _open(a, {"user_input": "@chat tell me a long story", "thread_id": thread,
                             "on_disconnect": "continue"})
    seen = [next(events) for _ in range(3)]
    run_id = seen[0].json()["run_id"]
    wait_for(lambda: _join(b, thread, run_id, 0).status_code == 200, "the first events stored")
    os.kill(a.process.pid, signal.SIGKILL)
    a.process.wait(timeout=10)
    resp.close()
    started = time.monotonic()
    replay = _events(_join(b, thread, run_id, 0))
    assert time.monotonic() - started < 20  # the lease (2 s) and the log's grace, not a hang
    assert replay[0].event == "metadata" and replay[-1].event == "error"
    error = json.loads(replay[-1].data)
    assert error["run_id"] == run_id and "instance running it stopped" in error["message"]
    assert [int(e.id) for e in replay] == list(range(1, len(replay) + 1))


def _cancel(server: LiveServer, thread_id: str, run_id: str) -> requests.Response:
    return requests.post(f"{server.url}/threads/{thread_id}/runs/{run_id}/cancel",
                         timeout=TIMEOUT)


def test_a_run_is_stopped_from_any_instance(
        pair: tuple[FakeOpenAI, list[LiveServer]]) -> None:
    """Stop asked on the instance that runs the run: at once, its live stream ends with the
    `error` event saying so. Asked on another instance: the run finds the request in the
    store and stops. Either way the model stream is closed and joiners are told."""
    model, (a, b) = pair
    for where in (a, b):
        thread = f"stop-{uuid.uuid4().hex[:8]}"
        model.script.clear()
        model.add(Turn(chunks=WORDS, delay=0.25))  # 10 s: far longer than it takes to stop
        resp, events = _open(a, {"user_input": "@chat tell me a long story",
                                 "thread_id": thread, "on_disconnect": "continue"})
        seen = [next(events) for _ in range(3)]
        run_id = seen[0].json()["run_id"]
        answered = len(model.outcomes)
        stopped = _cancel(where, thread, run_id)
        assert stopped.status_code == 202, stopped.text
        if where is a:  # the live stream ends with the error event
            rest = list(events)
            assert rest[-1].event == "error" and rest[-1].json()["status_code"] == 499
        resp.close()
        wait_for(lambda n=answered: len(model.outcomes) == n and model.outcomes[-1].cancelled,
                 "the model stream to be closed")
        assert model.outcomes[-1].chunks_sent < len(WORDS)
        replay = _events(_join(b, thread, run_id, 0))
        assert replay[-1].event == "error" and replay[-1].json()["status_code"] == 499
        assert "stopped at a client's request" in replay[-1].json()["message"]
        assert _cancel(b, thread, run_id).status_code == 204  # over already
    assert _cancel(b, thread, "no-such-run").status_code == 404


class _Replay:
    """A run log whose run is over: its events come from one read of the store."""

    async def follow(self, thread_id: str, run_id: str, after: int = 0
                     ) -> AsyncIterator[RunEvent]:
        for n in range(after + 1, 4):
            yield RunEvent(n, "end" if n == 3 else "data", f"x{n}")


async def test_a_replay_is_written_at_once() -> None:
    chunks = [c async for c in runs._stream(cast(RunLog, _Replay()), "t", "r", 0, 5.0)]
    assert len(chunks) == 1
    events = list(SSEClient(io.BytesIO(chunks[0])).events())
    assert [(e.id, e.event, e.data) for e in events] == [
        ("1", "data", "x1"), ("2", "data", "x2"), ("3", "end", "x3")]


async def test_a_quiet_queue_gives_one_keepalive_and_ends_at_done() -> None:
    queue: asyncio.Queue[object] = asyncio.Queue()
    batches = turns.drained(queue, 0.05)
    assert await anext(batches) == [turns.KEEPALIVE]
    queue.put_nowait("a")
    queue.put_nowait("b")
    queue.put_nowait(turns.DONE)
    queue.put_nowait(turns.KEEPALIVE)  # one that came after the end is dropped
    assert await anext(batches) == ["a", "b"]
    assert [b async for b in batches] == []
