"""Per-user threads (AUTH_MODE=easyauth) through the real dev server, on SQLite and on the Cosmos
DB stand-in (`@vercel/cosmosdb-server`): requests carry the headers App Service Authentication
adds for a signed-in user (tests/support/easyauth.py), or none, or broken ones.

A thread belongs to the user who created it: another user gets 404 for reading, deleting and
every kind of new turn (`/invoke`, `/stream` before the stream starts, `/batch`), and the
owner is stored with the thread's checkpoints (read back from each store directly). No
principal, or a malformed one, is a 401 that says what is wrong, never a 500. Two first turns
racing for the same new thread id: one wins, the other gets 404 and nothing of the winner's.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from standins.cosmos import CosmosEndpoint, start_cosmos_server
from standins.model_service import Turn, fake_openai
from standins.processes import LiveServer, live_server
from tests.conftest import CORPUS
from tests.support.easyauth import NAME_TYPE, OID, encode, legacy_owner, owner, signed_in
from tests.support.sse import by_type, stream

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
ALICE, BOB = signed_in("alice"), signed_in("bob")
TIMEOUT = 30


@dataclass
class Store:
    """A dev server in easyauth mode and a way to read the owners its store recorded."""

    kind: str
    server: LiveServer
    data_dir: Path
    cosmos: CosmosEndpoint | None = None
    database: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    def owners(self, thread_id: str) -> list[str | None]:
        """The `owner` in the metadata of every stored checkpoint of the thread."""
        if self.cosmos is None:
            with closing(sqlite3.connect(self.data_dir / "threads.sqlite")) as db:
                rows = db.execute("SELECT metadata FROM checkpoints WHERE thread_id = ?",
                                  (thread_id,)).fetchall()
            return [json.loads(row[0]).get("owner") for row in rows]
        from azure.cosmos import CosmosClient

        with CosmosClient(self.cosmos.url, credential=self.cosmos.key) as client:
            container = client.get_database_client(self.database).get_container_client("threads")
            items = container.query_items("SELECT * FROM c WHERE c.thread_id = @t",
                                          parameters=[{"name": "@t", "value": thread_id}],
                                          partition_key=thread_id)
            return [(item.get("metadata") or {}).get("owner") for item in items
                    if item.get("kind") == "checkpoint"]


@pytest.fixture(scope="module", params=["sqlite", "cosmos"])
def store(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    env = {"AUTH_MODE": "easyauth", "MODEL_PROVIDER": "offline", "DOCS_DIR": str(CORPUS)}
    data_dir = tmp_path_factory.mktemp(f"auth-{request.param}")
    if request.param == "sqlite":
        with live_server(data_dir, env) as server:
            yield Store("sqlite", server, data_dir)
        return
    with start_cosmos_server() as cosmos:
        database = f"auth-{uuid.uuid4().hex[:8]}"
        env.update({"AZURE_COSMOSDB_ENDPOINT": cosmos.url, "AZURE_COSMOSDB_KEY": cosmos.key,
                    "AZURE_COSMOSDB_DATABASE": database, "AZURE_COSMOSDB_CONTAINER": "threads",
                    "AZURE_COSMOSDB_CREATE_IF_MISSING": "true"})
        with live_server(data_dir, env) as server:
            yield Store("cosmos", server, data_dir, cosmos, database)


def invoke(url: str, headers: dict[str, str], question: str,
           thread_id: str = "") -> requests.Response:
    return requests.post(f"{url}/invoke", headers=headers, timeout=TIMEOUT,
                         json={"user_input": question, "thread_id": thread_id})


def read(url: str, headers: dict[str, str], thread_id: str) -> requests.Response:
    return requests.get(f"{url}/threads/{thread_id}", headers=headers, timeout=TIMEOUT)


def _assert_401(resp: requests.Response, detail: str) -> None:
    assert resp.status_code == 401, resp.text
    assert detail in resp.json()["detail"]
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_without_a_principal_every_thread_route_is_401_and_public_routes_stay_open(
        store: Store) -> None:
    url, sign_in = store.url, "Sign in first"
    _assert_401(invoke(url, {}, "@docsearch Moon?"), sign_in)
    _assert_401(requests.post(f"{url}/stream", timeout=TIMEOUT,
                              json={"user_input": "@docsearch Moon?"}), sign_in)
    _assert_401(requests.post(f"{url}/batch", timeout=TIMEOUT,
                              json={"questions": ["@docsearch Moon?"]}), sign_in)
    _assert_401(read(url, {}, "t-1"), sign_in)
    _assert_401(requests.delete(f"{url}/threads/t-1", timeout=TIMEOUT), sign_in)
    # 401 comes before the body is even looked at.
    _assert_401(requests.post(f"{url}/invoke", data=b"{not json", timeout=TIMEOUT), sign_in)
    for path in ("/health", "/chat", "/docs", "/openapi.json"):
        assert requests.get(f"{url}{path}", timeout=TIMEOUT).status_code == 200, path


BROKEN = {
    "not base64": "Zm9v!!not-base64",
    "not JSON": base64.b64encode(b"alice").decode(),
    "a JSON array": encode([1, 2, 3]),
    "claims not a list": encode({"auth_typ": "aad", "claims": "oid=alice"}),
    "a claim of the wrong shape": encode({"auth_typ": "aad", "claims": [{"typ": OID}]}),
    "nested too deeply": base64.b64encode(b"[" * 9000).decode(),
    "an oversized claim": encode({"auth_typ": "aad", "claims": [
        {"typ": OID, "val": "a" * 5000}]}),
}


@pytest.mark.parametrize("value", BROKEN.values(), ids=BROKEN.keys())
def test_a_malformed_principal_is_401_never_500(store: Store, value: str) -> None:
    headers = {"X-MS-CLIENT-PRINCIPAL": value}
    detail = "X-MS-CLIENT-PRINCIPAL is not a valid App Service Authentication principal"
    _assert_401(invoke(store.url, headers, "@docsearch Moon?"), detail)
    _assert_401(read(store.url, headers, "t-1"), detail)


def test_a_principal_without_a_user_id_is_401(store: Store) -> None:
    nameless = encode({"auth_typ": "aad", "claims": [{"typ": NAME_TYPE, "val": "mallory"}]})
    _assert_401(invoke(store.url, {"X-MS-CLIENT-PRINCIPAL": nameless}, "@docsearch Moon?"),
                "no user id claim")


def _said(resp: requests.Response) -> list[tuple[str, str]]:
    assert resp.status_code == 200, resp.text
    return [(m["role"], m["content"]) for m in resp.json()["messages"]]


def test_a_thread_belongs_to_its_creator(store: Store) -> None:
    url, thread = store.url, f"shared-{store.kind}"
    first = invoke(url, ALICE, "@docsearch how far is the Moon?", thread)
    assert first.status_code == 200 and "384,400" in first.json()["final_answer"]
    assert first.json()["usage"]["total_tokens"] == 0  # the offline model reports none
    alices = _said(read(url, ALICE, thread))
    assert store.owners(thread) and set(store.owners(thread)) == {owner("alice")}

    # Bob knows the id: reading, deleting and every kind of turn is a 404, as for no thread.
    not_found = f"No thread with thread_id '{thread}'."
    for resp in (read(url, BOB, thread),
                 requests.delete(f"{url}/threads/{thread}", headers=BOB, timeout=TIMEOUT),
                 invoke(url, BOB, "@docsearch and the tides?", thread),
                 requests.post(f"{url}/stream", headers=BOB, timeout=TIMEOUT,
                               json={"user_input": "@docsearch tides?", "thread_id": thread}),
                 requests.post(f"{url}/batch", headers=BOB, timeout=TIMEOUT,
                               json={"questions": ["@docsearch tides?"], "thread_id": thread})):
        assert resp.status_code == 404, (resp.request.method, resp.request.url, resp.text)
        assert resp.headers["content-type"] == "application/json"  # no stream was started
        assert resp.json()["detail"] == not_found
    assert _said(read(url, ALICE, thread)) == alices  # untouched
    assert set(store.owners(thread)) == {owner("alice")}

    # Alice goes on with her thread, streaming; her thread grows and stays hers.
    resp, events = stream(f"{url}/stream", {"user_input": "@docsearch and the tides?",
                                            "thread_id": thread}, headers=ALICE)
    assert resp.status_code == 200 and by_type(events, "end")
    assert len(_said(read(url, ALICE, thread))) > len(alices)

    # Bob's own threads: new ones (server-made ids), readable by him only.
    mine = invoke(url, BOB, "@docsearch what raises the tides?")
    assert mine.status_code == 200
    bobs = mine.json()["thread_id"]
    assert _said(read(url, BOB, bobs))[0] == ("user", "@docsearch what raises the tides?")
    assert read(url, ALICE, bobs).status_code == 404
    batch = requests.post(f"{url}/batch", headers=BOB, timeout=TIMEOUT,
                          json={"questions": ["@docsearch Moon?", "@docsearch tides?"]})
    assert batch.status_code == 200
    for item in batch.json()["results"]:
        assert item["status"] == "ok" and item["usage"]["total_tokens"] == 0
        assert read(url, BOB, item["thread_id"]).status_code == 200
        assert read(url, ALICE, item["thread_id"]).status_code == 404

    # Alice deletes her thread; the id is then free, and whoever uses it next owns it.
    assert requests.delete(f"{url}/threads/{thread}", headers=ALICE,
                           timeout=TIMEOUT).status_code == 204
    assert store.owners(thread) == []
    assert read(url, ALICE, thread).status_code == 404
    assert invoke(url, BOB, "@docsearch Moon?", thread).status_code == 200
    assert set(store.owners(thread)) == {owner("bob")}


def test_a_thread_saved_before_sign_in_was_required_belongs_to_nobody(tmp_path: Path) -> None:
    env = {"MODEL_PROVIDER": "offline", "DOCS_DIR": str(CORPUS)}
    with live_server(tmp_path, env) as server:  # AUTH_MODE=none: today's behaviour
        assert invoke(server.url, ALICE, "@docsearch Moon?", "legacy-1").status_code == 200
        assert read(server.url, {}, "legacy-1").status_code == 200  # the header is ignored
    with live_server(tmp_path, {**env, "AUTH_MODE": "easyauth"}) as server:
        assert read(server.url, ALICE, "legacy-1").status_code == 404
        assert invoke(server.url, ALICE, "@docsearch Moon?", "legacy-1").status_code == 404
        assert requests.delete(f"{server.url}/threads/legacy-1", headers=ALICE,
                               timeout=TIMEOUT).status_code == 404


def _wait_for(condition: Any, what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)  # polling for a state change, with a deadline


def test_two_first_turns_on_one_new_thread_id_one_wins(tmp_path: Path) -> None:
    """Alice's first turn on a new thread id is under way (the model holds its reply) when Bob's
    first turns on the same id arrive. The thread's lease is Alice's, so Bob's `/invoke` and
    `/stream` are refused at once (409, the stream before it starts); once her turn is saved,
    the owner check, made under the lease, finds Alice's thread: 404 for both. Nothing of
    Bob's reaches the model or the thread."""
    with fake_openai() as (model, base_url), live_server(
            tmp_path, {"AUTH_MODE": "easyauth", "MODEL_PROVIDER": "openai",
                       "OPENAI_BASE_URL": f"{base_url}/v1", "OPENAI_API_KEY": "k",
                       "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS)}) as server:
        release = threading.Event()
        model.add(Turn(chunks=["Hello ", "Alice."], hold=release))
        results: dict[str, Any] = {}
        alice = threading.Thread(target=lambda: results.update(
            alice=invoke(server.url, ALICE, "@chat hello", "race-1")))
        alice.start()
        try:
            _wait_for(lambda: model.in_flight == 1, "Alice's model call")
            during = [invoke(server.url, BOB, "@chat hello", "race-1"),
                      requests.post(f"{server.url}/stream", headers=BOB, timeout=TIMEOUT,
                                    json={"user_input": "@chat hi", "thread_id": "race-1"})]
        finally:
            release.set()
            alice.join(timeout=TIMEOUT)
        after = [invoke(server.url, BOB, "@chat hello", "race-1"),
                 requests.post(f"{server.url}/stream", headers=BOB, timeout=TIMEOUT,
                               json={"user_input": "@chat hi", "thread_id": "race-1"})]
        assert results["alice"].status_code == 200, results["alice"].text
        assert results["alice"].json()["final_answer"] == "Hello Alice."
        assert [r.status_code for r in during] == [409, 409], [r.text for r in during]
        assert [r.status_code for r in after] == [404, 404], [r.text for r in after]
        for r in after:
            assert r.headers["content-type"].startswith("application/json")
            assert r.json()["detail"] == "No thread with thread_id 'race-1'."
        assert len(model.requests) == 1  # Bob's turns never reached the model
        said = _said(read(server.url, ALICE, "race-1"))
        assert said == [("user", "@chat hello"), ("assistant", "Hello Alice.")]


def test_a_non_owner_looping_requests_changes_nothing_for_the_owner(store: Store) -> None:
    """Bob loops `DELETE`, `/invoke` and `/stream` on Alice's thread while she talks on it:
    every one of his is a 404 answered before the thread's lease, so none of Alice's turns is
    refused as busy, and Bob learns nothing (a foreign thread and an unused id answer alike)."""
    url, thread = store.url, f"looped-{store.kind}"
    assert invoke(url, ALICE, "@docsearch how far is the Moon?", thread).status_code == 200
    stop = threading.Event()
    bobs: list[int] = []

    def bob_loops() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                bobs.append(session.delete(f"{url}/threads/{thread}", headers=BOB,
                                           timeout=TIMEOUT).status_code)
                bobs.append(session.post(f"{url}/invoke", headers=BOB, timeout=TIMEOUT, json={
                    "user_input": "@docsearch tides?", "thread_id": thread}).status_code)
                bobs.append(session.post(f"{url}/stream", headers=BOB, timeout=TIMEOUT, json={
                    "user_input": "@docsearch tides?", "thread_id": thread}).status_code)

    looping = [threading.Thread(target=bob_loops) for _ in range(2)]
    for loop in looping:
        loop.start()
    alices: list[int] = []
    try:
        for i in range(20):
            alices.append(invoke(url, ALICE, f"@docsearch Moon, again {i}?", thread).status_code)
        for i in range(10):
            resp, events = stream(f"{url}/stream", {"user_input": f"@docsearch tides {i}?",
                                                    "thread_id": thread}, headers=ALICE)
            alices.append(resp.status_code if by_type(events, "end") else -1)
    finally:
        stop.set()
        for loop in looping:
            loop.join(timeout=TIMEOUT)
    assert alices.count(409) == 0 and set(alices) == {200}, alices
    assert len(bobs) >= 30 and set(bobs) == {404}, sorted(set(bobs))
    said = _said(read(url, ALICE, thread))
    assert len([r for r, _ in said if r == "user"]) == 31  # every turn of hers was saved

    # A foreign thread and an unused id are answered alike.
    foreign = requests.delete(f"{url}/threads/{thread}", headers=BOB, timeout=TIMEOUT)
    unused = requests.delete(f"{url}/threads/never-{store.kind}", headers=BOB, timeout=TIMEOUT)
    assert foreign.status_code == unused.status_code == 404
    assert foreign.json()["detail"].replace(thread, "X") == \
        unused.json()["detail"].replace(f"never-{store.kind}", "X")


def _record_owner(store: Store, thread_id: str, value: str) -> None:
    """Rewrite the owner of every stored checkpoint of a thread, as an earlier version wrote
    it."""
    if store.cosmos is None:
        with closing(sqlite3.connect(store.data_dir / "threads.sqlite")) as db:
            db.execute("UPDATE checkpoints SET metadata = json_set(metadata, '$.owner', ?) "
                       "WHERE thread_id = ?", (value, thread_id))
            db.commit()
        return
    from azure.cosmos import CosmosClient

    with CosmosClient(store.cosmos.url, credential=store.cosmos.key) as client:
        container = client.get_database_client(store.database).get_container_client("threads")
        for item in list(container.query_items(
                "SELECT * FROM c WHERE c.thread_id = @t", partition_key=thread_id,
                parameters=[{"name": "@t", "value": thread_id}])):
            if item.get("kind") == "checkpoint":
                item["metadata"] = {**(item.get("metadata") or {}), "owner": value}
                container.upsert_item(item)


def test_threads_saved_under_the_old_owner_form_stay_the_users(store: Store) -> None:
    url, thread = store.url, f"old-form-{store.kind}"
    assert invoke(url, ALICE, "@docsearch how far is the Moon?", thread).status_code == 200
    _record_owner(store, thread, legacy_owner("alice"))  # as versions before 2026-12 did
    assert set(store.owners(thread)) == {legacy_owner("alice")}
    assert read(url, BOB, thread).status_code == 404
    assert len(_said(read(url, ALICE, thread))) == 2
    assert invoke(url, ALICE, "@docsearch and the tides?", thread).status_code == 200
    assert len(_said(read(url, ALICE, thread))) == 4
    assert owner("alice") in store.owners(thread)  # the next turn recorded the new form
