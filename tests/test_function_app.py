"""`function_app.py` as the Functions host sees it: indexed by `azure.functions`, every route
bound with the right method and auth level, and each trigger calling the API's own handler."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from starlette.requests import Request

import function_app
from api.routes import ROUTES, other_method
from api.routing import trigger_methods
from tests.conftest import CORPUS
from tests.support.starlette_request import starlette_request

ROOT = Path(__file__).resolve().parents[1]
# `get_functions()` indexes the app as the worker does; it may run only once per app object.
FUNCTIONS = function_app.app.get_functions()


def _bindings() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for function in FUNCTIONS:
        trigger = json.loads(function.get_raw_bindings()[0])
        assert trigger["type"] == "httpTrigger" and trigger["direction"] == "IN"
        for method in trigger["methods"]:
            out[(f"/{trigger['route']}", method)] = {"name": function.get_function_name(),
                                                     "auth": trigger["authLevel"].lower()}
    return out


def test_every_route_is_bound_with_its_method_and_auth_level() -> None:
    bound = _bindings()
    expected = {(r.path, m): r.auth for r in ROUTES for m in trigger_methods(r)}
    expected[("/{*path}", "OPTIONS")] = "anonymous"  # answered from the route table
    assert {key: value["auth"] for key, value in bound.items()} == expected
    assert bound[("/invoke", "POST")]["auth"] == "function"
    assert bound[("/health", "GET")]["auth"] == "anonymous"
    assert bound[("/chat", "GET")]["auth"] == "anonymous"  # its API calls carry the key
    assert bound[("/threads/{thread_id}", "HEAD")]["name"] == "get_thread"


def test_triggers_use_the_fastapi_extension_types() -> None:
    import inspect

    from azurefunctions.extensions.http.fastapi import Request as ExtRequest

    for function in FUNCTIONS:
        signature = inspect.signature(function.get_user_function())
        assert [p.annotation for p in signature.parameters.values()] == [ExtRequest]


def test_host_json_serves_routes_without_a_prefix() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    assert host["extensions"]["http"]["routePrefix"] == ""


def test_importing_function_app_builds_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, function_app\n"
        "heavy = [m for m in ('langgraph', 'langchain_core', 'langchain_openai', 'azure.cosmos',"
        " 'agent.bot', 'httpx', 'sqlalchemy') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"
    assert not (tmp_path / "data").exists(), "import must not touch the data folder"


def _request(method: str, path: str, body: bytes = b"",
             path_params: dict[str, str] | None = None) -> Request:
    return starlette_request(method, path, body, path_params=path_params)


@pytest.fixture()
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.settings import get_settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DOCS_DIR", str(CORPUS))
    monkeypatch.setenv("MODEL_PROVIDER", "offline")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_triggers_call_the_same_handlers_as_the_dev_server(isolated_settings: None) -> None:
    from agent.runtime import close_bot

    try:
        resp = await function_app.invoke(_request(
            "POST", "/invoke", b'{"user_input": "@docsearch Moon?", "thread_id": "fa-1"}'))
        assert resp.status_code == 200
        assert "384,400" in json.loads(bytes(resp.body))["final_answer"]

        resp = await function_app.stream(_request(
            "POST", "/stream", b'{"user_input": "@docsearch tides", "thread_id": "fa-1"}'))
        chunks = [c if isinstance(c, bytes) else c.encode() async for c in resp.body_iterator]
        text = b"".join(chunks).decode()
        assert text.startswith("id: 1\nevent: metadata\n") and "event: end\n" in text

        resp = await function_app.get_thread(
            _request("GET", "/threads/fa-1", path_params={"thread_id": "fa-1"}))
        messages = json.loads(bytes(resp.body))["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"] * 2  # two turns
        resp = await function_app.delete_thread(
            _request("DELETE", "/threads/fa-1", path_params={"thread_id": "fa-1"}))
        assert resp.status_code == 204

        resp = await function_app.batch(_request("POST", "/batch", b'{"questions": []}'))
        assert resp.status_code == 422
        resp = await function_app.health(_request("GET", "/health"))
        assert json.loads(bytes(resp.body))["status"] == "ok"
        resp = await function_app.openapi_json(_request("GET", "/openapi.json"))
        assert "/invoke" in json.loads(bytes(resp.body))["paths"]
        resp = await function_app.docs(_request("GET", "/docs"))
        assert b"/docs/assets/swagger-ui-bundle.js" in bytes(resp.body)
        resp = await function_app.docs_asset(_request(
            "GET", "/docs/assets/swagger-ui.css", path_params={"name": "swagger-ui.css"}))
        assert resp.status_code == 200 and resp.media_type == "text/css"
        resp = await function_app.chat(_request("GET", "/chat"))
        assert b'<textarea id="question"' in bytes(resp.body)
        resp = await function_app.chat_asset(_request(
            "GET", "/chat/assets/api.js", path_params={"name": "api.js"}))
        assert resp.status_code == 200 and b"x-functions-key" in bytes(resp.body)

        resp = await function_app.options(_request("OPTIONS", "/threads/fa-1"))
        assert resp.status_code == 204
        assert resp.headers["allow"] == "GET, HEAD, PATCH, DELETE, OPTIONS"
        resp = await function_app.options(_request("OPTIONS", "/invoke"))
        assert resp.headers["allow"] == "POST, OPTIONS"
        resp = await function_app.options(_request("OPTIONS", "/nowhere"))
        assert resp.status_code == 404
        resp = await function_app.health(_request("HEAD", "/health"))
        assert resp.status_code == 200
    finally:
        await close_bot()


def test_each_trigger_delegates_to_the_route_tables_handler() -> None:
    import inspect

    handlers = {r.handler.__name__ for r in ROUTES} | {other_method.__name__}
    for function in FUNCTIONS:
        source = inspect.getsource(function.get_user_function())
        called = source.split("return await ")[1].split("(")[0].split(".")[-1]
        assert called in handlers
    assert isinstance(function_app.app, func.FunctionApp)
