"""POST bodies must be declared as UTF-8 JSON: `application/json`, optionally `charset=utf-8`.

An accepted declaration is proven by the body reaching validation (422 for an empty batch);
anything else is 415 before the body is read, with a message saying what to send.
"""

from __future__ import annotations

import pytest
import requests

from standins.processes import LiveServer

EMPTY_BATCH = b'{"questions": []}'


@pytest.mark.parametrize("content_type", [
    "application/json",
    "Application/JSON",
    "application/json; charset=utf-8",
    "application/json;charset=UTF-8",
    'application/json; charset="utf-8"',
    "application/json; charset=utf8",
])
def test_json_declared_as_utf8_is_read(offline_server: LiveServer, content_type: str) -> None:
    resp = requests.post(f"{offline_server.url}/batch", data=EMPTY_BATCH, timeout=10,
                         headers={"Content-Type": content_type})
    assert resp.status_code == 422
    assert resp.json()["detail"] == "questions: must have at least 1 item"


@pytest.mark.parametrize("path", ["/invoke", "/stream", "/batch"])
@pytest.mark.parametrize("content_type", [
    None,
    "",
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "application/json; charset=latin-1",
    "text/json",
    "application/jsonx",
    "application/vnd.api+json",
    "application/json, text/plain",
])
def test_other_content_types_are_415(offline_server: LiveServer, path: str,
                                     content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    resp = requests.post(f"{offline_server.url}{path}", data=EMPTY_BATCH, headers=headers,
                         timeout=10)
    assert resp.status_code == 415
    detail = resp.json()["detail"]
    assert detail.startswith("Content-Type must be application/json (optionally with "
                             "'; charset=utf-8'); ")
    assert detail.endswith("Send the body as UTF-8 JSON.")
    assert ("none was sent" in detail) if not content_type else (repr(content_type) in detail)


def test_a_utf16_body_is_refused_whatever_it_claims(offline_server: LiveServer) -> None:
    body = '{"user_input": "@docsearch hi"}'.encode("utf-16")
    resp = requests.post(f"{offline_server.url}/invoke", data=body, timeout=10,
                         headers={"Content-Type": "application/json; charset=utf-16"})
    assert resp.status_code == 415
    resp = requests.post(f"{offline_server.url}/invoke", data=body, timeout=10,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and "not UTF-8 text" in resp.json()["detail"]


def test_a_cross_site_form_post_never_reaches_the_bot(offline_server: LiveServer) -> None:
    # What a browser sends without a CORS preflight: a "simple request" with a text/plain body.
    resp = requests.post(f"{offline_server.url}/invoke?code=key", timeout=10,
                         data=b'{"user_input": "@docsearch hi", "thread_id": "csrf-1"}',
                         headers={"Content-Type": "text/plain", "Origin": "https://evil.test"})
    assert resp.status_code == 415
    assert requests.get(f"{offline_server.url}/threads/csrf-1", timeout=10).status_code == 404
