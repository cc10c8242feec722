"""Every kind of bad input gets a 4xx that names the field, never a 500."""

from __future__ import annotations

import pytest
import requests

from tests.support.live_server import LiveServer

BAD_BODIES = [
    ({}, 422, "user_input: is required"),
    ({"user_input": ""}, 422, "user_input: must not be empty"),
    ({"user_input": "   \n"}, 422, "user_input: must not be empty"),
    ({"user_input": "x" * 8001}, 422, "user_input: is 8001 characters; the limit is 8000"),
    ({"user_input": 42}, 422, "user_input: Input should be a valid string"),
    ({"user_input": "hi", "thread_id": "a/b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "a\\b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "a?b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "a#b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "a\nb"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": "x" * 129}, 422,
     "thread_id: String should have at most 128"),
    ({"user_input": "hi", "thread_id": "a\u0085b"}, 422, "thread_id: must not contain"),
    ({"user_input": "hi", "thread_id": " padded "}, 422, "thread_id: must not start or end"),
    ([1, 2], 422, "must be a JSON object"),
]


@pytest.mark.parametrize("path", ["/invoke", "/stream"])
@pytest.mark.parametrize(("body", "status", "message"), BAD_BODIES)
def test_bad_question_bodies(offline_server: LiveServer, path: str, body: object, status: int,
                             message: str) -> None:
    resp = requests.post(f"{offline_server.url}{path}", json=body, timeout=10)
    assert resp.status_code == status
    assert message in resp.json()["detail"]


@pytest.mark.parametrize("path", ["/invoke", "/stream", "/batch"])
def test_malformed_json_is_400(offline_server: LiveServer, path: str) -> None:
    resp = requests.post(f"{offline_server.url}{path}", data=b'{"user_input": "hi"',
                         headers={"Content-Type": "application/json"}, timeout=10)
    assert resp.status_code == 400
    assert "not valid JSON" in resp.json()["detail"]


def test_deeply_nested_json_is_400_not_500(offline_server: LiveServer) -> None:
    resp = requests.post(f"{offline_server.url}/invoke", data=b"[" * 100_000, timeout=10)
    assert resp.status_code == 400 and "nested too deeply" in resp.json()["detail"]


def test_oversized_body_is_413(offline_server: LiveServer) -> None:
    resp = requests.post(f"{offline_server.url}/invoke", timeout=10,
                         data=b'{"user_input": "' + b"x" * 900_000 + b'"}')
    assert resp.status_code == 413


@pytest.mark.parametrize(("body", "message"), [
    ({"questions": []}, "questions: List should have at least 1 item"),
    ({"questions": ["ok"] * 26}, "questions: has 26 questions; the limit is 25"),
    ({"questions": ["ok", ""]}, "questions: item 1 must not be empty"),
    ({"questions": "what?"}, "questions: Input should be a valid list"),
    ({"questions": ["ok"], "thread_id": "../etc"}, "thread_id: must not contain"),
])
def test_bad_batches(offline_server: LiveServer, body: object, message: str) -> None:
    resp = requests.post(f"{offline_server.url}/batch", json=body, timeout=10)
    assert resp.status_code == 422
    assert message in resp.json()["detail"]
    assert resp.json()["errors"][0]["field"] in {"questions", "thread_id"}


def test_bad_thread_ids_in_paths(offline_server: LiveServer) -> None:
    long_id = "x" * 129
    assert requests.get(f"{offline_server.url}/threads/{long_id}", timeout=10).status_code == 422
    assert requests.delete(f"{offline_server.url}/threads/a%3Fb", timeout=10).status_code == 422
