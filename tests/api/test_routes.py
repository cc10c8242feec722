"""Methods the route table doesn't bind, over the real dev server: HEAD answers as GET without a
body, OPTIONS lists what a path allows, anything else is 405 with the full `Allow`."""

from __future__ import annotations

import pytest
import requests

from api.routes import ROUTES
from api.routing import trigger_methods
from standins.processes import LiveServer

EXAMPLES = {"thread_id": "route-t1", "run_id": "route-r1", "name": "swagger-ui.css"}


def _concrete(path: str) -> str:
    for name, value in EXAMPLES.items():
        path = path.replace("{" + name + "}", value)
    return path


def _allow(path: str) -> list[str]:
    """What the table says a path allows, written out independently of `other_method`."""
    methods = [m for r in ROUTES if r.path == path for m in trigger_methods(r)]
    return [*methods, "OPTIONS"]


PATHS = sorted({r.path for r in ROUTES})


@pytest.mark.parametrize("path", PATHS)
def test_options_lists_every_method_of_the_path(offline_server: LiveServer, path: str) -> None:
    resp = requests.options(f"{offline_server.url}{_concrete(path)}", timeout=10)
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["allow"].split(", ") == _allow(path)


def test_options_of_the_thread_path_lists_get_head_patch_and_delete(
        offline_server: LiveServer) -> None:
    resp = requests.options(f"{offline_server.url}/threads/abc", timeout=10)
    assert resp.headers["allow"] == "GET, HEAD, PATCH, DELETE, OPTIONS"


@pytest.mark.parametrize("path", sorted({r.path for r in ROUTES if r.method == "GET"}))
def test_head_answers_like_get_without_a_body(offline_server: LiveServer, path: str) -> None:
    url = f"{offline_server.url}{_concrete(path)}"
    get = requests.get(url, timeout=10)
    head = requests.head(url, timeout=10)
    assert head.status_code == get.status_code
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers.get("content-length") == get.headers.get("content-length")


def test_head_on_an_existing_thread_is_200(offline_server: LiveServer) -> None:
    requests.post(f"{offline_server.url}/invoke", timeout=60,
                  json={"user_input": "@docsearch Moon?", "thread_id": "head-1"}).raise_for_status()
    resp = requests.head(f"{offline_server.url}/threads/head-1", timeout=10)
    assert resp.status_code == 200 and resp.content == b""
    assert requests.head(f"{offline_server.url}/threads/head-none", timeout=10).status_code == 404


@pytest.mark.parametrize(("method", "template"), [
    ("PUT", "/threads/{thread_id}"), ("PATCH", "/threads"), ("POST", "/threads"),
    ("POST", "/threads/{thread_id}"),
    ("GET", "/threads/{thread_id}/runs/{run_id}/feedback"), ("GET", "/invoke"),
    ("DELETE", "/stream"),
    ("PUT", "/batch"), ("HEAD", "/batch"), ("DELETE", "/health"), ("POST", "/docs"),
    ("TRACE", "/openapi.json"), ("PUT", "/docs/assets/{name}"),
])
def test_other_methods_are_405_with_the_full_allow(offline_server: LiveServer, method: str,
                                                   template: str) -> None:
    path = _concrete(template)
    resp = requests.request(method, f"{offline_server.url}{path}", timeout=10)
    assert resp.status_code == 405
    assert resp.headers["allow"].split(", ") == _allow(template)
    if method != "HEAD":
        assert resp.json()["detail"] == (f"{method} is not allowed on {path}; allowed: "
                                         f"{resp.headers['allow']}.")


def test_unknown_paths_are_404_json(offline_server: LiveServer) -> None:
    for method in ("GET", "POST", "OPTIONS"):
        resp = requests.request(method, f"{offline_server.url}/nowhere", timeout=10)
        assert resp.status_code == 404
        assert resp.json()["detail"] == "No route '/nowhere'. See /docs for the API."
    root = requests.get(f"{offline_server.url}/", allow_redirects=False, timeout=10)
    assert root.status_code == 307 and root.headers["location"] == "/docs"
