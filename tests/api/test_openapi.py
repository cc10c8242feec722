"""The OpenAPI document states the rules the server enforces, in JSON Schema as a client's
validator reads it (ECMA-262 regexes, via jsonschema-rs, the validator schemathesis uses).

Each rule is checked both ways: the documented schema and the server's own validation agree on
generated strings (hypothesis), and the limits that are settings follow the settings.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sseclient import SSEClient
from starlette.requests import Request

from agent.events import BotEvent
from api.problems import Problem
from api.schemas import WHITESPACE, BatchRequest, InvokeRequest
from api.streaming import sse_stream
from api.thread_schemas import CURSOR_MAX, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX
from api.threads import path_id
from standins.processes import LiveServer, live_server
from tests.support.openapi_events import check_events, stream_schema, validator
from tests.support.sse import stream

# Characters around every rule's edges, mixed with arbitrary text.
EDGES = list("/\\?#\x00\x1f\x7f\x85\x9f\u2028\u2029 \t\n\r\x0b\x0c\x1c\xa0\u1680\u2000\u200a"
             "\u200b\u202f\u205f\u3000\ufeff\u180eaZ9-_.é中🚀")
TEXT = st.text(st.sampled_from(EDGES) | st.characters(exclude_categories=["Cs"]), max_size=140)


@pytest.fixture(scope="module")
def document(offline_server: LiveServer) -> dict[str, Any]:
    resp = requests.get(f"{offline_server.url}/openapi.json", timeout=10)
    resp.raise_for_status()
    return dict(resp.json())


def _property(document: dict[str, Any], model: str, name: str) -> dict[str, Any]:
    return dict(document["components"]["schemas"][model]["properties"][name])


def test_whitespace_is_exactly_what_python_strips() -> None:
    spelled = re.compile(f"[{WHITESPACE}]")
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert bool(spelled.fullmatch(char)) == char.isspace(), hex(code)


def _server_accepts_question(text: str) -> bool:
    try:
        InvokeRequest.model_validate({"user_input": text}, context={"max_input_chars": 8000})
    except ValidationError:
        return False
    return True


def _server_accepts_body_thread_id(text: str) -> bool:
    try:
        InvokeRequest.model_validate({"user_input": "q", "thread_id": text})
    except ValidationError:
        return False
    return True


def _server_accepts_path_thread_id(text: str) -> bool:
    scope = {"type": "http", "method": "GET", "path": "/threads/x", "headers": [],
             "path_params": {"thread_id": text}}
    try:
        path_id(Request(scope))
    except Problem:
        return False
    return True


@settings(max_examples=400, derandomize=True, deadline=None, database=None)
@given(text=TEXT)
def test_documented_rules_and_server_agree(text: str, document: dict[str, Any]) -> None:
    question = validator(document, _property(document, "InvokeRequest", "user_input"))
    body_id = validator(document, _property(document, "InvokeRequest", "thread_id"))
    parameter = document["paths"]["/threads/{thread_id}"]["get"]["parameters"][0]
    path_id = validator(document, parameter["schema"])
    assert question.is_valid(text) == _server_accepts_question(text)
    assert body_id.is_valid(text) == _server_accepts_body_thread_id(text)
    assert path_id.is_valid(text) == _server_accepts_path_thread_id(text)


@pytest.mark.parametrize(("text", "question", "thread_id"), [
    ("", False, True), (" ", False, False), ("\u3000", False, False), ("a", True, True),
    (" a", True, False), ("a b", True, True), ("a/b", True, False), ("\u200b", True, True),
    ("x" * 128, True, True), ("x" * 129, True, False), ("\ufeff", True, True),
])
def test_documented_rules_at_known_edges(document: dict[str, Any], text: str, question: bool,
                                         thread_id: bool) -> None:
    assert validator(document, _property(document, "InvokeRequest", "user_input")
                      ).is_valid(text) is question is _server_accepts_question(text)
    assert validator(document, _property(document, "BatchRequest", "thread_id")
                      ).is_valid(text) is thread_id is _server_accepts_body_thread_id(text)


def test_body_rules_are_stated(document: dict[str, Any]) -> None:
    user_input = _property(document, "InvokeRequest", "user_input")
    assert (user_input["minLength"], user_input["maxLength"]) == (1, 8000)
    questions = _property(document, "BatchRequest", "questions")
    assert (questions["minItems"], questions["maxItems"]) == (1, 25)
    assert questions["items"] == {"type": "string", "minLength": 1, "maxLength": 8000,
                                  "pattern": user_input["pattern"]}
    for model in ("InvokeRequest", "BatchRequest"):
        assert _property(document, model, "thread_id")["maxLength"] == 128
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if method == "post" and path.endswith("/cancel"):  # a POST that takes no body
                assert "requestBody" not in operation and "202" in operation["responses"]
            elif method == "post":
                assert operation["requestBody"]["content"].keys() == {"application/json"}
                # OpenAI's and MCP's clients expect a bad field as 400: those never send 422.
                field_error = set() if path in ("/v1/chat/completions", "/mcp") else {"422"}
                assert {"400", "413", "415"} | field_error <= operation["responses"].keys(), path
            if "{thread_id}" in path:
                schema = operation["parameters"][0]["schema"]
                assert (schema["minLength"], schema["maxLength"]) == (1, 128)


def test_the_include_query_parameter_is_stated_and_enforced(
        document: dict[str, Any], offline_server: LiveServer) -> None:
    parameters = document["paths"]["/threads/{thread_id}"]["get"]["parameters"]
    include = next(p for p in parameters if p["name"] == "include")
    assert (include["in"], include["required"], include["schema"]["enum"]) == (
        "query", False, ["tools"])
    include_values = validator(document, include["schema"])
    for value in ("tools", "all", "TOOLS"):
        answer = requests.get(f"{offline_server.url}/threads/no-such-thread",
                              params={"include": value}, timeout=10)
        # A stated value reaches the lookup (404: no such thread); any other is refused.
        assert answer.status_code == (404 if include_values.is_valid(value) else 422), value


def test_limits_that_are_settings_follow_the_settings(tmp_path: Path) -> None:
    with live_server(tmp_path, {"MODEL_PROVIDER": "offline", "MAX_INPUT_CHARS": "40",
                                "MAX_BATCH_QUESTIONS": "3"}) as server:
        spec = requests.get(f"{server.url}/openapi.json", timeout=10).json()
        # At the limits only the (deliberately bad) thread_id is refused; one over, the limit is.
        at = requests.post(f"{server.url}/batch", timeout=10,
                           json={"questions": ["x" * 40] * 3, "thread_id": "a/b"})
        over = requests.post(f"{server.url}/batch", timeout=10,
                             json={"questions": ["x" * 41] * 4})
    questions = spec["components"]["schemas"]["BatchRequest"]["properties"]["questions"]
    assert questions["maxItems"] == 3 and questions["items"]["maxLength"] == 40
    user_input = spec["components"]["schemas"]["InvokeRequest"]["properties"]["user_input"]
    assert user_input["maxLength"] == 40
    assert [e["field"] for e in at.json()["errors"]] == ["thread_id"]
    assert over.json()["detail"].startswith("questions: has 4 questions; the limit is 3")


def test_a_real_stream_matches_the_documented_events(offline_server: LiveServer,
                                                     document: dict[str, Any]) -> None:
    _, events = stream(f"{offline_server.url}/stream",
                       {"user_input": "@docsearch how far away is the Moon?"})
    names = {e.event for e in events}
    assert {"metadata", "on_tool_start", "on_tool_end", "data", "end"} <= names
    check_events(document, [{"event": e.event, "data": e.data, "id": e.id} for e in events])


async def test_the_error_event_matches_the_documented_schema(document: dict[str, Any]) -> None:
    async def failing() -> AsyncIterator[BotEvent]:
        await asyncio.sleep(0)
        raise TimeoutError("model too slow")
        yield

    raw = b"".join([chunk async for chunk in sse_stream(lambda _on_token: failing(), "r-1",
                                                         "t-1", 5.0)])
    events = [{"event": e.event, "data": e.data, "id": e.id}
              for e in SSEClient(io.BytesIO(raw)).events()]
    assert [e["event"] for e in events] == ["metadata", "error"]
    assert json.loads(events[1]["data"])["status_code"] == 504  # the timeout, mapped
    check_events(document, events)
    _, data_schemas = stream_schema(document)
    assert set(data_schemas) == {"metadata", "on_tool_start", "on_tool_end", "data", "end",
                                 "interrupt", "error"}


def test_batch_request_schema_is_the_models_own(document: dict[str, Any]) -> None:
    assert document["components"]["schemas"]["BatchRequest"]["required"] == ["questions"]
    assert BatchRequest.model_json_schema()["properties"]["questions"]["items"]["pattern"] == (
        _property(document, "InvokeRequest", "user_input")["pattern"])


def test_streamed_routes_document_only_server_sent_events(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path, method in (("/stream", "post"), ("/threads/{thread_id}/runs/{run_id}/stream",
                                                "get")):
        assert paths[path][method]["responses"]["200"]["content"].keys() == {
            "text/event-stream"}, path


def test_every_status_a_run_route_answers_is_documented(document: dict[str, Any]) -> None:
    rejoin = document["paths"]["/threads/{thread_id}/runs/{run_id}/stream"]["get"]
    cancel = document["paths"]["/threads/{thread_id}/runs/{run_id}/cancel"]["post"]
    assert {"200", "204"} <= rejoin["responses"].keys()
    assert {"202", "204"} <= cancel["responses"].keys()
    for operation in (rejoin, cancel):  # a 204 has no body
        assert "content" not in operation["responses"]["204"]


def test_the_thread_list_parameters_are_the_servers_limits(document: dict[str, Any]) -> None:
    parameters = {p["name"]: p["schema"]
                  for p in document["paths"]["/threads"]["get"]["parameters"]}
    assert parameters["limit"] == {"type": "integer", "minimum": 1,
                                   "maximum": LIST_LIMIT_MAX, "default": LIST_LIMIT_DEFAULT}
    assert parameters["cursor"] == {"type": "string", "maxLength": CURSOR_MAX}
