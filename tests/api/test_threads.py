"""The thread list, titles, feedback and regenerate, over the real dev server, with and
without sign-in, on SQLite and the Cosmos DB stand-in: a user's threads are listed to that
user only (newest first, paged), renamed and given feedback by that user only, and a
regenerated answer replaces the last one."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from typing import Any

import pytest
import requests

from agent.memory.cosmos_thread_index import owner_partition
from agent.memory.thread_index import title_of
from api.threads import iso
from standins.processes import LiveServer
from tests.api.test_auth_threads import ALICE, BOB, TIMEOUT, Store, invoke, read, store
from tests.support.easyauth import owner, signed_in
from tests.support.sse import by_type, stream

__all__ = ["store"]  # the module-scoped dev server per store (sqlite, cosmos), signed in


def _list(url: str, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(f"{url}/threads", headers=headers, params=params, timeout=TIMEOUT)


def _ask(store: Store, headers: dict[str, str], question: str, thread: str = "") -> str:
    resp = invoke(store.url, headers, question, thread)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["thread_id"])


def test_a_user_lists_their_own_threads_newest_first_in_pages(store: Store) -> None:
    carol, dave = signed_in(f"carol-{store.kind}"), signed_in(f"dave-{store.kind}")
    made = [_ask(store, carol, f"@docsearch question {i} about the Moon?") for i in range(5)]
    _ask(store, carol, "@docsearch a follow-up", made[1])  # made[1] is now the newest
    others = [_ask(store, dave, "@docsearch dave's own question") for _ in range(3)]

    first = _list(store.url, carol, limit=2)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["listed"] is True and body["next_cursor"]
    seen = [t["thread_id"] for t in body["threads"]]
    while body["next_cursor"]:
        body = _list(store.url, carol, limit=2, cursor=body["next_cursor"]).json()
        seen += [t["thread_id"] for t in body["threads"]]
    assert seen == [made[1], made[4], made[3], made[2], made[0]]
    assert not set(seen) & set(others)
    newest = _list(store.url, carol, limit=1).json()["threads"][0]
    assert newest["title"] == "Question 1 about the Moon?"
    assert newest["created_at"] < newest["updated_at"]
    assert [t["thread_id"] for t in _list(store.url, dave).json()["threads"]] == others[::-1]

    bad = _list(store.url, carol, cursor="not-a-cursor")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    assert _list(store.url, carol, limit=0).status_code == 422


def test_rename_is_the_owners_and_the_title_shows_everywhere(store: Store) -> None:
    thread = _ask(store, ALICE, "@docsearch how far is the Moon?")
    renamed = requests.patch(f"{store.url}/threads/{thread}", headers=ALICE, timeout=TIMEOUT,
                             json={"title": "  Moon distance  "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["title"] == "Moon distance"
    assert read(store.url, ALICE, thread).json()["title"] == "Moon distance"
    assert {t["thread_id"]: t["title"] for t in _list(store.url, ALICE).json()["threads"]
            }[thread] == "Moon distance"
    for title, status in (("x", 404), ("", 422), ("a\nb", 422), ("x" * 201, 422)):
        headers = BOB if status == 404 else ALICE
        resp = requests.patch(f"{store.url}/threads/{thread}", headers=headers,
                              timeout=TIMEOUT, json={"title": title})
        assert resp.status_code == status, (title, resp.text)
    assert requests.patch(f"{store.url}/threads/no-such-thread", headers=ALICE, timeout=TIMEOUT,
                          json={"title": "t"}).status_code == 404
    assert read(store.url, ALICE, thread).json()["title"] == "Moon distance"


def test_feedback_is_stored_shown_and_replaceable_by_the_owner_only(store: Store) -> None:
    resp = invoke(store.url, ALICE, "@docsearch what raises the tides?")
    thread, run_id = resp.json()["thread_id"], resp.json()["run_id"]
    url = f"{store.url}/threads/{thread}/runs/{run_id}/feedback"
    given = requests.post(url, headers=ALICE, timeout=TIMEOUT,
                          json={"score": -1, "comment": "Too vague."})
    assert given.status_code == 200, given.text
    assert given.json() == {"run_id": run_id, "score": -1, "comment": "Too vague."}
    answer = [m for m in read(store.url, ALICE, thread).json()["messages"]
              if m["role"] == "assistant"][-1]
    assert answer["run_id"] == run_id
    assert answer["feedback"] == {"run_id": run_id, "score": -1, "comment": "Too vague."}
    # One per answer: a second replaces the first.
    assert requests.post(url, headers=ALICE, timeout=TIMEOUT,
                         json={"score": 1}).status_code == 200
    answer = read(store.url, ALICE, thread).json()["messages"][-1]
    assert answer["feedback"] == {"run_id": run_id, "score": 1, "comment": None}
    # Nobody else; no such run; no such score.
    assert requests.post(url, headers=BOB, timeout=TIMEOUT,
                         json={"score": 1}).status_code == 404
    other_run = f"{store.url}/threads/{thread}/runs/not-a-run/feedback"
    assert requests.post(other_run, headers=ALICE, timeout=TIMEOUT,
                         json={"score": 1}).status_code == 404
    for body in ({"score": 0}, {"score": "1"}, {"score": 1, "comment": "x" * 2001}, {}):
        assert requests.post(url, headers=ALICE, timeout=TIMEOUT,
                             json=body).status_code == 422, body


def test_regenerate_replaces_the_last_answer(store: Store) -> None:
    first = invoke(store.url, ALICE, "@docsearch how far is the Moon?")
    thread = first.json()["thread_id"]
    second = invoke(store.url, ALICE, "@docsearch what raises the tides?", thread)
    old_run = second.json()["run_id"]
    requests.post(f"{store.url}/threads/{thread}/runs/{old_run}/feedback", headers=ALICE,
                  timeout=TIMEOUT, json={"score": -1}).raise_for_status()

    resp, events = stream(f"{store.url}/stream", {"thread_id": thread, "regenerate": True},
                          headers=ALICE)
    assert resp.status_code == 200 and by_type(events, "end")
    new_run = events[0].json()["run_id"]
    messages = read(store.url, ALICE, thread).json()["messages"]
    assert [(m["role"], m["content"]) for m in messages][:2] == [
        ("user", "@docsearch how far is the Moon?"), ("assistant", first.json()["final_answer"])]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[2]["content"] == "@docsearch what raises the tides?"
    assert messages[3]["content"] == by_type(events, "end")[0].data
    assert messages[3]["run_id"] == messages[2]["run_id"] == new_run != old_run
    assert messages[3]["feedback"] is None  # the old answer's feedback went with it

    # Not on another user's thread, nor on one that doesn't exist; not with a question too.
    for body, headers, status in (
            ({"thread_id": thread, "regenerate": True}, BOB, 404),
            ({"thread_id": f"none-{store.kind}", "regenerate": True}, ALICE, 404),
            ({"thread_id": thread, "regenerate": True, "user_input": "hi"}, ALICE, 422),
            ({"regenerate": True}, ALICE, 422)):
        got = requests.post(f"{store.url}/invoke", headers=headers, json=body,
                            timeout=TIMEOUT)
        assert got.status_code == status, (body, got.text)


def test_listing_reads_only_the_owners_summaries(store: Store) -> None:
    """Listing costs what the caller's threads cost: in SQLite an index on the owner, in
    Cosmos DB one partition per owner."""
    thread = _ask(store, ALICE, "@docsearch Moon?")
    if store.cosmos is None:
        with closing(sqlite3.connect(store.data_dir / "threads.sqlite")) as db:
            plan = " ".join(str(row) for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT thread_id, title, created_at, updated_at "
                "FROM thread_index WHERE owner = ? AND updated_at <= ? "
                "ORDER BY updated_at DESC, thread_id DESC LIMIT 3", (owner("alice"), 1e12)))
            owners = {row[0] for row in db.execute(
                "SELECT owner FROM thread_index WHERE thread_id = ?", (thread,))}
        assert "USING INDEX thread_index_by_owner" in plan, plan
        assert owners == {owner("alice")}
        return
    from azure.cosmos import CosmosClient

    with CosmosClient(store.cosmos.url, credential=store.cosmos.key) as client:
        container = client.get_database_client(store.database).get_container_client("threads")
        partition = owner_partition(owner("alice"))
        mine = list(container.query_items(
            "SELECT * FROM c WHERE c.thread_id = @p AND c.kind = 'thread_summary'",
            parameters=[{"name": "@p", "value": partition}], partition_key=partition))
    assert thread in {item["id"] for item in mine}
    assert owner_partition(owner("alice")) == \
        f"owners/{hashlib.sha256(owner('alice').encode()).hexdigest()}"
    assert all(item["owner"] == owner("alice") and item["ttl"] > 0 for item in mine)


def test_iso_times() -> None:
    assert iso(0) is None
    assert iso(1_800_000_000.7) == "2027-01-15T08:00:00.700Z"


def test_without_sign_in_nothing_is_listed_and_a_thread_is_anyones(
        offline_server: LiveServer) -> None:
    url = offline_server.url
    made = requests.post(f"{url}/invoke", timeout=TIMEOUT,
                         json={"user_input": "@docsearch how far is the Moon?"}).json()
    listing = requests.get(f"{url}/threads", timeout=TIMEOUT)
    assert listing.status_code == 200
    assert listing.json() == {"threads": [], "next_cursor": None, "listed": False}
    thread, run_id = made["thread_id"], made["run_id"]
    assert requests.patch(f"{url}/threads/{thread}", json={"title": "Moon"},
                          timeout=TIMEOUT).json()["title"] == "Moon"
    assert requests.post(f"{url}/threads/{thread}/runs/{run_id}/feedback", json={"score": 1},
                         timeout=TIMEOUT).status_code == 200
    view = requests.get(f"{url}/threads/{thread}", timeout=TIMEOUT).json()
    assert view["title"] == "Moon" and view["messages"][-1]["feedback"]["score"] == 1
    again = requests.post(f"{url}/invoke", json={"thread_id": thread, "regenerate": True},
                          timeout=TIMEOUT).json()
    assert again["run_id"] != run_id and again["final_answer"] == made["final_answer"]
    view = requests.get(f"{url}/threads/{thread}", timeout=TIMEOUT).json()
    assert [m["run_id"] for m in view["messages"]] == [again["run_id"]] * 2
    assert view["title"] == "Moon"  # the title stays


@pytest.mark.parametrize(("question", "title"), [
    ("@docsearch how far is the Moon?", "How far is the Moon?"),
    ("@DocSearch,  what   raises\nthe tides?", "What raises the tides?"),
    ("@chat", "@chat"),
    ("plain question", "Plain question"),
    (" ".join(["word"] * 30), " ".join(["Word", *["word"] * 14]) + "…"),
    ("x" * 100, "X" + "x" * 78 + "…"),
])
def test_a_new_threads_title_is_its_first_question_tidied(question: str, title: str) -> None:
    assert title_of(question) == title
