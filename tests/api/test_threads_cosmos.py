"""`/invoke`, `/stream` and `/threads` served by the real dev server on the Cosmos DB backend.

The app talks to a Cosmos-protocol server (`@vercel/cosmosdb-server`) on loopback; the test reads
the container directly with the `azure-cosmos` SDK to check what is stored.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from azure.cosmos import ContainerProxy, CosmosClient

from agent.memory.cosmos_thread_index import owner_partition
from standins.cosmos import CosmosEndpoint, start_cosmos_server
from standins.processes import live_server
from tests.conftest import CORPUS
from tests.support.sse import stream

TTL_SECONDS = 4321
# The SDK skips TLS verification for the loopback stand-in's self-signed certificate.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(scope="module")
def cosmos() -> Iterator[CosmosEndpoint]:
    with start_cosmos_server() as endpoint:
        yield endpoint


def app_env(cosmos: CosmosEndpoint, database: str) -> dict[str, str]:
    return {
        "AZURE_COSMOSDB_ENDPOINT": cosmos.url,
        "AZURE_COSMOSDB_KEY": cosmos.key,
        "AZURE_COSMOSDB_DATABASE": database,
        "AZURE_COSMOSDB_CONTAINER": "threads",
        "AZURE_COSMOSDB_CREATE_IF_MISSING": "true",
        "THREAD_TTL_SECONDS": str(TTL_SECONDS),
        "DOCS_DIR": str(CORPUS),
        "MODEL_PROVIDER": "offline",
    }


@contextmanager
def container_of(cosmos: CosmosEndpoint, database: str) -> Iterator[ContainerProxy]:
    with CosmosClient(cosmos.url, credential=cosmos.key) as client:
        yield client.get_database_client(database).get_container_client("threads")


def items_of(container: ContainerProxy, thread_id: str) -> list[dict[str, Any]]:
    return list(container.query_items(
        "SELECT * FROM c WHERE c.thread_id = @t",
        parameters=[{"name": "@t", "value": thread_id}],
        partition_key=thread_id,
    ))


def ask(url: str, question: str, thread_id: str) -> str:
    resp = requests.post(f"{url}/invoke", timeout=30,
                         json={"user_input": question, "thread_id": thread_id})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["final_answer"])


def said(url: str, thread_id: str) -> list[tuple[str, str]]:
    """The user questions and the assistant answers of a thread (tool traffic left out)."""
    resp = requests.get(f"{url}/threads/{thread_id}", timeout=30)
    assert resp.status_code == 200, resp.text
    return [(m["role"], m["content"]) for m in resp.json()["messages"]
            if m["role"] == "user" or (m["role"] == "assistant" and m["content"])]


def test_conversation_survives_a_restart_and_delete_removes_every_item(
    cosmos: CosmosEndpoint, tmp_path: Path
) -> None:
    database = f"e2e-{uuid.uuid4().hex[:8]}"
    env = app_env(cosmos, database)
    with live_server(tmp_path / "first", env) as server:
        first = ask(server.url, "@docsearch what raises the tides?", "conv-1")
        _, events = stream(f"{server.url}/stream",
                           {"user_input": "@docsearch and Joey?", "thread_id": "conv-1"})
        second = events[-1].data
        ask(server.url, "@docsearch how far is the Moon?", "other-1")
    assert "tides" in first and "Chandler" in second

    with live_server(tmp_path / "second", env) as server:  # new process, same Cosmos container
        assert said(server.url, "conv-1") == [
            ("user", "@docsearch what raises the tides?"), ("assistant", first),
            ("user", "@docsearch and Joey?"), ("assistant", second),
        ]
        third = ask(server.url, "@docsearch how far is the Moon?", "conv-1")
        assert "384,400" in third
        assert said(server.url, "conv-1")[-2:] == [
            ("user", "@docsearch how far is the Moon?"), ("assistant", third)]

        with container_of(cosmos, database) as container:
            stored = list(container.read_all_items())
            nobody = owner_partition(None)  # the summaries of threads of no signed-in user
            assert {item["thread_id"] for item in stored} == {"conv-1", "other-1", nobody}
            summaries = {item["id"]: item for item in stored if item["thread_id"] == nobody}
            assert set(summaries) == {"conv-1", "other-1"}
            assert summaries["conv-1"]["title"] == "What raises the tides?"
            # CHECKPOINT_DURABILITY=exit (the default): one checkpoint per finished turn (and
            # the thread's first, empty one); each turn's four new messages (question, tool
            # call, tool result, answer) are stored once, as writes. No lease is left behind.
            # The streamed turn's events are kept too, to rejoin it: one run record and a few
            # batched event items (never one per token), living RUN_EVENTS_TTL_SECONDS.
            kinds = Counter(item["kind"] for item in stored if item["thread_id"] == "conv-1")
            assert kinds.pop("run") == 1 and 1 <= kinds.pop("run_events") <= 4, kinds
            assert kinds == {"checkpoint": 4, "write": 12}
            run_items = [item for item in stored if item["kind"] in ("run", "run_events")]
            assert {item["ttl"] for item in run_items} == {3600}
            # Items live 1.5 x THREAD_TTL_SECONDS: a thread lasts at least that after its last
            # turn (docs/memory-cosmos.md, "Expiry").
            assert all(item["ttl"] == TTL_SECONDS + TTL_SECONDS // 2 for item in stored
                       if item not in run_items)
            assert container.read()["defaultTtl"] == -1

            resp = requests.delete(f"{server.url}/threads/conv-1", timeout=30)
            assert resp.status_code == 204
            assert items_of(container, "conv-1") == []
            assert len(items_of(container, "other-1")) > 0
            assert [item["id"] for item in items_of(container, nobody)] == ["other-1"]
            assert requests.get(f"{server.url}/threads/conv-1", timeout=30).status_code == 404
            assert said(server.url, "other-1")[0] == ("user", "@docsearch how far is the Moon?")


def test_a_unicode_thread_id_of_128_characters(cosmos: CosmosEndpoint, tmp_path: Path) -> None:
    thread_id = "スレッド🧵 ü" * 16  # 128 characters, a URL path segment once quoted
    path = f"threads/{quote(thread_id, safe='')}"
    with live_server(tmp_path, app_env(cosmos, f"ids-{uuid.uuid4().hex[:8]}")) as server:
        answer = ask(server.url, "@docsearch what raises the tides?", thread_id)
        shown = requests.get(f"{server.url}/{path}", timeout=30)
        assert shown.status_code == 200 and shown.json()["thread_id"] == thread_id
        assert said(server.url, quote(thread_id, safe="")) == [
            ("user", "@docsearch what raises the tides?"), ("assistant", answer)]
        assert requests.delete(f"{server.url}/{path}", timeout=30).status_code == 204
        assert requests.get(f"{server.url}/{path}", timeout=30).status_code == 404
