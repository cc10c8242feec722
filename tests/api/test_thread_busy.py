"""One turn at a time per thread, decided in the thread store, across processes.

Real dev servers (`python -m api`): one server refusing a second turn everywhere (409 with
`Retry-After`, `/stream` before its stream starts, `/batch` items, `DELETE`); two servers on one
SQLite file and on one Cosmos container, one queuing (`THREAD_BUSY=wait`) and one refusing,
racing 20 turns on one thread (every answered turn is in the thread, the rest were refused);
then `kill -9` of the process holding a thread's lease (the lease expires, the thread is usable
again).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from standins.cosmos import CosmosEndpoint, start_cosmos_server
from standins.model_service import FakeOpenAI, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

QUESTION_DEADLINE_SECONDS = 60


@pytest.fixture(scope="module")
def cosmos() -> Iterator[CosmosEndpoint]:
    with start_cosmos_server() as endpoint:
        yield endpoint


def wait_for(predicate: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)  # polling for a state the servers reach on their own


def invoke(url: str, question: str, thread_id: str) -> requests.Response:
    return requests.post(f"{url}/invoke", json={"user_input": question, "thread_id": thread_id},
                         timeout=QUESTION_DEADLINE_SECONDS)


def holding_turn(model: FakeOpenAI, url: str, thread_id: str) -> threading.Thread:
    """Start a slow turn on `thread_id` and return once it holds the thread (the model has
    been called, which happens only after the lease was taken)."""
    calls = len(model.requests)
    worker = threading.Thread(target=invoke, args=(url, "@docsearch slow question", thread_id))
    worker.start()
    wait_for(lambda: len(model.requests) > calls, "the slow turn to reach the model")
    return worker


def test_a_busy_thread_refuses_every_other_turn_and_delete(tmp_path: Path) -> None:
    with fake_openai(first_delay=1.0) as (model, model_url), live_server(tmp_path, {
            "MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
            "DOCS_DIR": str(CORPUS)}) as server:
        url = server.url
        assert invoke(url, "@docsearch a first question", "busy-1").status_code == 200
        worker = holding_turn(model, url, "busy-1")

        second = invoke(url, "@docsearch another question", "busy-1")
        streamed = requests.post(f"{url}/stream", timeout=30, stream=True,
                                 json={"user_input": "@docsearch a third", "thread_id": "busy-1"})
        batch = requests.post(f"{url}/batch", timeout=30,
                              json={"questions": ["@docsearch a fourth"], "thread_id": "busy-1"})
        deleted = requests.delete(f"{url}/threads/busy-1", timeout=30)
        elsewhere = invoke(url, "@docsearch on another thread", "busy-2")
        never_used = requests.delete(f"{url}/threads/never-used", timeout=30)
        worker.join()
        thread = requests.get(f"{url}/threads/busy-1", timeout=30).json()["messages"]

    for refused in (second, streamed, deleted):
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == "application/json"
        assert 1 <= int(refused.headers["retry-after"]) <= 5
        assert refused.json()["detail"] == (
            f"Thread 'busy-1' is busy with another turn; try again in "
            f"{refused.headers['retry-after']} s.")
    [item] = batch.json()["results"]
    assert batch.status_code == 200 and item["status"] == "error"
    assert "is busy with another turn" in item["error"]
    assert elsewhere.status_code == 200
    assert never_used.status_code == 404  # no lease taken for a thread that isn't there
    assert [m["content"] for m in thread if m["role"] == "user"] == [
        "@docsearch a first question", "@docsearch slow question"]


def cosmos_env(cosmos: CosmosEndpoint, database: str) -> dict[str, str]:
    return {"AZURE_COSMOSDB_ENDPOINT": cosmos.url, "AZURE_COSMOSDB_KEY": cosmos.key,
            "AZURE_COSMOSDB_DATABASE": database, "AZURE_COSMOSDB_CONTAINER": "threads",
            "AZURE_COSMOSDB_CREATE_IF_MISSING": "true"}


@contextmanager
def two_servers(store: str, tmp_path: Path, request: pytest.FixtureRequest,
                envs: tuple[dict[str, str], dict[str, str]]) -> Iterator[list[LiveServer]]:
    """Two dev-server processes on one thread store, each warmed up in turn."""
    if store == "cosmos":
        cosmos: CosmosEndpoint = request.getfixturevalue("cosmos")
        shared = cosmos_env(cosmos, f"race-{uuid.uuid4().hex[:8]}")
        dirs = (tmp_path / "a", tmp_path / "b")
    else:
        shared, dirs = {}, (tmp_path, tmp_path)  # one DATA_DIR: one threads.sqlite
    with ExitStack() as stack:
        servers = []
        for data_dir, env in zip(dirs, envs, strict=True):
            server = stack.enter_context(live_server(data_dir, {
                "DOCS_DIR": str(CORPUS), **shared, **env}))
            warm = invoke(server.url, "@docsearch warm up", f"warm-{uuid.uuid4().hex[:6]}")
            assert warm.status_code == 200, warm.text
            servers.append(server)
        yield servers


@pytest.mark.parametrize("store", ["sqlite", "cosmos"])
def test_two_processes_on_one_store(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Two dev servers on one store: 20 turns at once on one thread lose no answered turn;
    then the one holding the thread's lease is killed (-9) and the thread is usable again."""
    lease = {"THREAD_LEASE_SECONDS": "2"}
    with fake_openai() as (model, model_url):
        # The first process queues (THREAD_BUSY=wait) and calls a model server; the second
        # refuses (the default) and runs the offline model.
        queuing = {"MODEL_PROVIDER": "openai", "OPENAI_BASE_URL": f"{model_url}/v1",
                   "THREAD_BUSY": "wait", "THREAD_BUSY_WAIT_SECONDS": "60", **lease}
        refusing = {"MODEL_PROVIDER": "offline", **lease}
        with two_servers(store, tmp_path, request, (queuing, refusing)) as servers:
            race(servers)
            kill_the_holder(model, *servers)


def race(servers: list[LiveServer]) -> None:
    """20 turns at once on one thread, alternating between the servers."""
    start = threading.Barrier(20)

    def turn(n: int) -> tuple[str, requests.Response]:
        question = f"@docsearch what raises the tides? (asked {n})"
        start.wait()
        return question, invoke(servers[n % 2].url, question, "race-1")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(turn, range(20)))
    messages = requests.get(f"{servers[1].url}/threads/race-1", timeout=30).json()["messages"]

    answered = {q: r.json()["final_answer"] for q, r in results if r.status_code == 200}
    refused = [q for q, r in results if r.status_code == 409]
    assert len(answered) + len(refused) == 20, [r.text for _, r in results]
    assert len(answered) >= 10  # every turn sent to the queuing process is answered
    assert refused, "the refusing process never found the thread busy: no race happened"
    asked = [m["content"] for m in messages if m["role"] == "user"]
    assert sorted(asked) == sorted(answered)  # no answered turn missing, none refused stored
    pairs = dict(zip(asked, [m["content"] for m in messages if m["role"] == "assistant"],
                     strict=True))
    assert pairs == answered


def kill_the_holder(model: FakeOpenAI, holder: LiveServer, other: LiveServer) -> None:
    """`kill -9` of the process whose turn holds a thread: the lease (2 s) expires."""
    model.first_delay = 60  # from now on the model takes a minute to answer
    stream = requests.post(f"{holder.url}/stream", timeout=30, stream=True, json={
        "user_input": "@docsearch a question that never ends", "thread_id": "kill-1"})
    assert stream.status_code == 200  # the holder took the lease (else 409): its turn runs
    wait_for(lambda: any("never ends" in str(r.body) for r in model.requests),
             "the holder's turn to reach the model")
    refused = invoke(other.url, "@docsearch meanwhile?", "kill-1")
    assert refused.status_code == 409  # renewed while the turn runs

    os.kill(holder.process.pid, signal.SIGKILL)
    holder.process.wait(timeout=10)
    stream.close()
    killed_at = time.monotonic()
    answered: list[requests.Response] = []

    def usable() -> bool:
        resp = invoke(other.url, "@docsearch what raises the tides?", "kill-1")
        if resp.status_code == 200:
            answered.append(resp)
            return True
        assert resp.status_code == 409, resp.text
        return False

    wait_for(usable, "the killed holder's lease to expire", seconds=20)
    assert time.monotonic() - killed_at < 10
    messages = requests.get(f"{other.url}/threads/kill-1", timeout=30).json()["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == [
        "@docsearch what raises the tides?"]
    assert messages[-1]["content"] == answered[0].json()["final_answer"]
