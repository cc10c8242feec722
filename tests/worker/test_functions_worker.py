"""The app inside the real Functions worker library, driven over the worker's own protocol.

A worker-level test. The worker library is the real one (`azure-functions-runtime`, the version
requirements.txt pins, on Python 3.13, in its own venv); it indexes `function_app.py`, binds the
FastAPI extension's types, serves HTTP through its own streaming proxy and runs the app, with
the model on `azure` against a loopback server speaking the Azure OpenAI protocol. The host is a
stand-in (tests/support/functions_host) that speaks FunctionRpc over gRPC and forwards HTTP to
the worker's `HttpUri` as the host does. Function keys, the real host's routing and
`routePrefix`, and the platform front end are not verified here (docs/functions-worker.md).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import openai
import pytest
import requests
from mcp.client import Client
from packaging.requirements import Requirement
from sseclient import SSEClient

from api.routes import ROUTES
from api.routing import trigger_methods
from standins.model_service import FakeOpenAI, Turn, fake_openai
from tests.conftest import CORPUS
from tests.support.functions_host.host import FunctionsHost, functions_host
from tests.support.functions_host.protocol import compile_protocol

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKER_PYTHON = ROOT / ".venv-3.13" / "bin" / "python"
DEPLOYMENT = "worker-test-deployment"
API_VERSION = "2024-10-21"  # the classic deployments path
API_KEY = "worker-test-key"
SUCCESS = 1  # StatusResult.Success
SEARCH = Turn(tool_calls=[{"name": "search_documents", "arguments": {"query": "moon"}}])


def _worker_python() -> str:
    """The Python 3.13 venv with requirements.txt installed (`make worker-venv` builds it)."""
    python = Path(os.environ.get("WORKER_TEST_PYTHON") or DEFAULT_WORKER_PYTHON)
    if not python.is_file():
        pytest.fail(f"no worker venv at {python}: run `make worker-venv` (make test does)")
    return str(python)


def _pinned(package: str) -> str:
    """The version requirements.txt pins for `package` on Python 3.13."""
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            if requirement.name == package and (
                    requirement.marker is None
                    or requirement.marker.evaluate({"python_version": "3.13"})):
                return str(requirement.specifier).removeprefix("==")
    raise LookupError(f"{package} is not pinned for Python 3.13 in requirements.txt")


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FunctionsHost, FakeOpenAI]]:
    """One worker process for the module, under the stand-in host, on the `azure` model path."""
    protocol_dir = compile_protocol(tmp_path_factory.mktemp("functionrpc"))
    with fake_openai() as (model, model_url), functions_host(
        protocol_dir, _worker_python(),
        {"MODEL_PROVIDER": "azure", "AZURE_OPENAI_ENDPOINT": model_url,
         "AZURE_OPENAI_CHAT_DEPLOYMENT": DEPLOYMENT, "AZURE_OPENAI_API_VERSION": API_VERSION,
         "AZURE_OPENAI_API_KEY": API_KEY, "MODEL_MAX_RETRIES": "0", "DOCS_DIR": str(CORPUS)},
        tmp_path_factory.mktemp("worker"), ROOT,
    ) as host:
        yield host, model


def _succeeded(host: FunctionsHost, invocation_id: str) -> bool:
    """Whether the worker answered this invocation with Success (waits for its answer)."""
    deadline = time.monotonic() + 10
    while invocation_id not in host.invocation_responses:
        assert time.monotonic() < deadline, f"no InvocationResponse for {invocation_id}"
        time.sleep(0.02)  # polling for the worker's gRPC answer
    return bool(host.invocation_responses[invocation_id].result.status == SUCCESS)


def test_the_worker_is_the_pinned_library_on_python_3_13(
        worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, _ = worker
    metadata = host.init_response.worker_metadata
    assert metadata.runtime_name == "python"
    assert metadata.runtime_version == "3.13"
    assert metadata.worker_version == _pinned("azure-functions-runtime")
    code = "import importlib.metadata as m; print(m.version('azure-functions'))"
    version = subprocess.run([_worker_python(), "-c", code], capture_output=True, text=True,
                             check=True, timeout=30).stdout.strip()
    assert version == _pinned("azure-functions")


def test_init_succeeds_with_http_streaming_capabilities(
        worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, _ = worker
    assert host.start_stream.worker_id == host.worker_id
    assert host.init_response.result.status == SUCCESS
    capabilities = dict(host.init_response.capabilities)
    assert capabilities["HttpUri"].startswith("http://127.0.0.1:")
    assert capabilities["RequiresRouteParameters"] == "true"


def test_indexed_functions_are_the_route_table_and_all_load(
        worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, _ = worker
    response = host.metadata_response
    assert response.result.status == SUCCESS
    assert not response.use_default_metadata_indexing  # the worker indexed the app itself
    indexed = {(f"/{f.route}", method, f.auth_level)
               for f in host.functions for method in f.methods}
    expected = {(r.path, m, r.auth) for r in ROUTES for m in trigger_methods(r)}
    expected.add(("/{*path}", "OPTIONS", "anonymous"))  # answered from the route table
    assert indexed == expected
    assert len(host.functions) == len({f.function_id for f in host.functions})
    assert {r.function_id for r in host.load_responses} == {f.function_id for f in host.functions}
    assert all(r.result.status == SUCCESS for r in host.load_responses)


def test_health_through_the_worker(worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, _ = worker
    response = requests.get(f"{host.url}/health", timeout=30)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["model_provider"] == "azure"
    invocation = host.invocations[-1]
    found = host.find("GET", "/health")
    assert found is not None and found[0].function_id == invocation.function_id
    assert _succeeded(host, invocation.invocation_id)


def test_stream_arrives_token_by_token_as_the_model_sends_it(
        worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, model = worker
    tokens = [f"tok{i} " for i in range(20)]
    model.add(SEARCH, Turn(chunks=tokens, delay=0.1))
    events: list[tuple[str, str]] = []
    progress: list[tuple[int, bool]] = []  # the model's answer stream as each token arrived
    with requests.post(f"{host.url}/stream", json={"user_input": "@docsearch the moon?"},
                       stream=True, timeout=30) as response:
        for event in SSEClient(response).events():
            events.append((event.event, event.data))
            if event.event == "data":
                answer = model.outcomes[-1]  # tokens come from the answer's stream, the last one
                progress.append((answer.chunks_sent, answer.completed))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert events[0][0] == "metadata" and events[-1] == ("end", "".join(tokens))
    assert [text for name, text in events if name == "data"] == tokens
    # Not buffered anywhere on the way (the library's HTTP proxy, the host): the first token
    # reached the client while the model still had most of the answer to send, and most tokens
    # arrived, at many different points of the model's progress, while it was still sending.
    first_sent, first_done = progress[0]
    assert not first_done and first_sent <= len(tokens) // 4, progress
    while_sending = [sent for sent, done in progress if not done]
    assert len(while_sending) >= len(tokens) // 2, progress
    assert len(set(while_sending)) >= len(tokens) // 4, progress
    assert model.requests[-1].path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
    assert model.requests[-1].headers["api-key"] == API_KEY
    assert _succeeded(host, host.invocations[-1].invocation_id)


def test_thread_read_takes_its_id_from_the_route_parameters_sent_over_grpc(
        worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, model = worker
    thread_id = "worker-thread-1"
    model.add(SEARCH, Turn(chunks=["The Moon is ", "far."]))
    answer = requests.post(f"{host.url}/invoke", timeout=30,
                           json={"user_input": "@docsearch how far?", "thread_id": thread_id})
    assert answer.status_code == 200, answer.text
    assert answer.json()["final_answer"] == "The Moon is far."

    thread = requests.get(f"{host.url}/threads/{thread_id}", timeout=30)
    assert thread.status_code == 200, thread.text
    assert thread.json()["thread_id"] == thread_id
    messages = thread.json()["messages"]
    assert (messages[0]["role"], messages[0]["content"]) == ("user", "@docsearch how far?")
    assert (messages[-1]["role"], messages[-1]["content"]) == ("assistant", "The Moon is far.")
    sent = host.invocations[-1].input_data[0]
    assert sent.data.http.params == {"thread_id": thread_id}
    assert not sent.data.http.url and not sent.data.http.body.WhichOneof("data")  # params only

    # The worker answers from the parameters it got over gRPC, not from the URL it was sent.
    elsewhere = host.call("GET", "/threads/another-id", route_params={"thread_id": thread_id})
    assert elsewhere.status_code == 200
    assert json.loads(elsewhere.body)["thread_id"] == thread_id
    missing = host.call("GET", f"/threads/{thread_id}", route_params={"thread_id": "no-such"})
    assert missing.status_code == 404
    assert "no-such" in json.loads(missing.body)["detail"]


def _stream_then_leave(host: FunctionsHost, body: bytes) -> bytes:
    """POST /stream on a raw socket, read until three tokens arrived, then hang up."""
    address, port = host.url.removeprefix("http://").split(":")
    with socket.create_connection((address, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        received = b""
        while received.count(b"event: data") < 3:
            chunk = sock.recv(65536)
            assert chunk, f"the stream ended early: {received!r}"
            received += chunk
    return received


def test_a_client_leaving_mid_stream_cancels_the_run(
        worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, model = worker
    model.add(SEARCH, Turn(chunks=[f"tok{i} " for i in range(500)], delay=0.02))
    first_outcome = len(model.outcomes)
    received = _stream_then_leave(
        host, b'{"user_input": "@docsearch a long answer", "thread_id": "worker-leave-1"}')
    # The client is gone: the host closes the forwarded request, the worker's HTTP server sees
    # it and the app cancels the run, which closes the model stream long before 500 tokens.
    deadline = time.monotonic() + 15
    while not (len(model.outcomes) == first_outcome + 2 and model.outcomes[-1].cancelled):
        assert time.monotonic() < deadline, f"not cancelled:\n{host.worker_log()}"
        time.sleep(0.02)  # polling the stand-in's record
    answer = model.outcomes[-1]
    assert answer.chunks_sent < 100 and not answer.completed
    assert b"event: metadata" in received
    assert requests.get(f"{host.url}/health", timeout=30).status_code == 200  # worker still up


def test_a_continue_run_outlives_its_client_and_is_rejoined_through_the_worker(
        worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    """`on_disconnect: continue`: the client leaves mid-answer, the invocation's response
    ends, and the run goes on in the worker to its end; its events are rejoined through the
    worker (`Last-Event-ID`) and the answer is saved."""
    host, model = worker
    tokens = [f"tok{i} " for i in range(60)]
    model.add(SEARCH, Turn(chunks=tokens, delay=0.02))
    first_outcome = len(model.outcomes)
    received = _stream_then_leave(
        host, b'{"user_input": "@docsearch a long answer", "thread_id": "worker-continue-1", '
              b'"on_disconnect": "continue"}')
    found = re.search(rb'"run_id":"([^"]+)"', received)
    assert found is not None, received
    run_id = found.group(1).decode()
    deadline = time.monotonic() + 20
    while not (len(model.outcomes) == first_outcome + 2 and model.outcomes[-1].completed):
        assert not (model.outcomes and model.outcomes[-1].cancelled), host.worker_log()
        assert time.monotonic() < deadline, f"the run did not finish:\n{host.worker_log()}"
        time.sleep(0.02)  # polling the stand-in's record
    with requests.get(f"{host.url}/threads/worker-continue-1/runs/{run_id}/stream",
                      headers={"Last-Event-ID": "2"}, stream=True, timeout=30) as rejoined:
        events = [(e.id, e.event, e.data) for e in SSEClient(rejoined).events()]
    assert rejoined.status_code == 200, rejoined.text
    assert events[0][0] == "3" and events[-1][1] == "end" and events[-1][2] == "".join(tokens)
    thread = requests.get(f"{host.url}/threads/worker-continue-1", timeout=30).json()
    assert thread["messages"][-1]["content"] == "".join(tokens)


def test_openai_compatible_stream_through_the_worker(
        worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, model = worker
    tokens = [f"part{i} " for i in range(8)]
    model.add(SEARCH, Turn(chunks=tokens))
    sdk = openai.OpenAI(base_url=f"{host.url}/v1", api_key="unused", max_retries=0,
                        default_headers={"x-functions-key": "not-checked-by-the-stand-in"})
    chunks = list(sdk.chat.completions.create(
        model="smartbot-docsearch", messages=[{"role": "user", "content": "the moon?"}],
        stream=True, stream_options={"include_usage": True}))
    assert [c.choices[0].delta.content for c in chunks if c.choices][1:-1] == tokens
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert _succeeded(host, host.invocations[-1].invocation_id)


def test_mcp_through_the_worker(worker: tuple[FunctionsHost, FakeOpenAI]) -> None:
    host, model = worker
    model.add(SEARCH, Turn(chunks=["Far, ", "far away."]))

    async def ask() -> dict[str, object] | None:
        async with Client(f"{host.url}/mcp", mode="legacy") as client:
            assert [t.name for t in (await client.list_tools()).tools] == ["ask"]
            result = await client.call_tool("ask", {"question": "how far?",
                                                    "specialist": "docsearch"})
            assert not result.is_error, result.content
            return result.structured_content

    structured = anyio.run(ask)
    assert structured is not None and structured["answer"] == "Far, far away."
    thread = requests.get(f"{host.url}/threads/{structured['thread_id']}", timeout=30)
    assert thread.status_code == 200 and len(thread.json()["messages"]) == 2
