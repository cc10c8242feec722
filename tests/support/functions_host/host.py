"""A small stand-in for the Azure Functions host, for the worker-level test.

    with functions_host(protocol_dir, python, env, work_dir) as host:
        requests.get(f"{host.url}/health")     # through the host's HTTP front and the worker
        host.functions                         # what the worker indexed
        host.invocations                       # every InvocationRequest sent, in order

It does what the host does for a Python app with HTTP streaming, and nothing else:
- serves FunctionRpc.EventStream (gRPC) on a loopback port and starts the worker process with
  the host's command line (`--host --port --functions-worker-id --functions-request-id
  --functions-grpc-max-message-length`) and environment (`FUNCTIONS_WORKER_RUNTIME`,
  `AzureWebJobsScriptRoot`, the app settings);
- waits for `StartStream`, sends `WorkerInitRequest`, `FunctionsMetadataRequest`, then one
  `FunctionLoadRequest` per indexed function, and fails loudly if any of them fails;
- serves an HTTP front on another loopback port: a request is matched against the indexed
  HTTP triggers (route template, method, host.json's `routePrefix`), an `InvocationRequest`
  carrying only the route parameters (`RpcHttp.params`) goes over gRPC, and the HTTP request
  itself is forwarded to the worker's `HttpUri` with an `x-ms-invocation-id` header; the
  worker's response streams back as it comes. A client that leaves closes the forwarded
  connection, as the host's proxy does.

Not modelled: function keys (`authLevel` is recorded, never enforced), the platform front end,
retries, other trigger types, placeholder specialization, worker restarts.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote

import anyio
import grpc
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from standins.processes import server_env
from tests.support.functions_host.protocol import PROTOCOL_DIR_ENV, load_protocol

LAUNCHER = Path(__file__).resolve().with_name("launcher.py")
HOST_VERSION = "4.0.0-worker-test"
MAX_MESSAGE_BYTES = 2_147_483_647
STEP_TIMEOUT_SECONDS = 60.0  # each start-up step: process start + imports, init, index, load
HTTP_TIMEOUT = httpx.Timeout(30.0, read=60.0)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
               "proxy-connection", "host", "date", "server"}
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
T = TypeVar("T")


@dataclass(frozen=True)
class IndexedFunction:
    """One HTTP-triggered function as the worker reported it (`RpcFunctionMetadata`)."""

    function_id: str
    name: str
    route: str
    methods: tuple[str, ...]
    auth_level: str
    trigger_param: str
    metadata: Any = field(repr=False, compare=False)

    @classmethod
    def from_metadata(cls, metadata: Any) -> IndexedFunction:
        bindings = [json.loads(raw) for raw in metadata.raw_bindings]
        triggers = [b for b in bindings if b["type"] == "httpTrigger"]
        if len(triggers) != 1:
            raise ValueError(f"{metadata.name}: expected one httpTrigger binding, got {bindings}")
        trigger = triggers[0]
        return cls(metadata.function_id, metadata.name, trigger.get("route") or metadata.name,
                   tuple(m.upper() for m in trigger.get("methods") or _METHODS),
                   str(trigger.get("authLevel", "function")).lower(), trigger["name"], metadata)

    def match(self, method: str, path: str, prefix: str) -> dict[str, str] | None:
        """The route parameters if this function serves `method path`, else None."""
        if method.upper() not in self.methods:
            return None
        template = "/".join(p for p in (prefix.strip("/"), self.route.strip("/")) if p)
        match = _route_regex(template).fullmatch(path.strip("/"))
        if match is None:
            return None
        return {name: unquote(value) for name, value in match.groupdict().items()}


def _route_regex(template: str) -> re.Pattern[str]:
    """A regex for a route template with `{name}` (one segment) and `{*name}` (the rest)."""
    out, pos = [], 0
    for param in re.finditer(r"\{(\*?)([A-Za-z_][A-Za-z0-9_]*)\}", template):
        out.append(_literal(template[pos:param.start()], template))
        out.append(f"(?P<{param[2]}>.+)" if param[1] else f"(?P<{param[2]}>[^/]+)")
        pos = param.end()
    out.append(_literal(template[pos:], template))
    return re.compile("".join(out))


def _literal(text: str, template: str) -> str:
    if "{" in text or "}" in text:  # constraints, defaults, optional parameters
        raise NotImplementedError(f"route template not supported by this stand-in: {template}")
    return re.escape(text)


@dataclass
class Forwarded:
    """A whole response forwarded through the host (for `FunctionsHost.call`)."""

    status_code: int
    headers: httpx.Headers
    body: bytes
    invocation_id: str


class FunctionsHost:
    """The running stand-in: the worker's replies, what was sent, and the HTTP front's URL."""

    def __init__(self, protocol_dir: Path, python: str, env: dict[str, str], work_dir: Path,
                 app_dir: Path) -> None:
        self.rpc = load_protocol(protocol_dir)
        self.protocol_dir, self.python, self.app_dir = protocol_dir, python, app_dir
        self.env, self.work_dir = env, work_dir
        host_json = json.loads((app_dir / "host.json").read_text())
        self.route_prefix: str = (host_json.get("extensions", {}).get("http", {})
                                  .get("routePrefix", "api"))
        self.worker_id, self.request_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.log_path = work_dir / "worker.log"
        self.url = ""
        self.worker_uri = ""
        self.start_stream: Any = None
        self.init_response: Any = None
        self.metadata_response: Any = None
        self.load_responses: list[Any] = []
        self.functions: list[IndexedFunction] = []
        self.invocations: list[Any] = []
        self.invocation_responses: dict[str, Any] = {}
        self.logs: list[Any] = []
        self.unexpected: list[Any] = []  # worker messages no request was waiting for
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="functions-host",
                                        daemon=True)
        self._process: subprocess.Popen[bytes] | None = None
        self._replies: dict[str, asyncio.Future[Any]] = {}
        self._outbox: asyncio.Queue[Any] | None = None
        self._server: Any = None
        self._front: uvicorn.Server | None = None
        self._front_task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    # ---- public, called from the test's thread -------------------------------------------

    def worker_log(self) -> str:
        """What the worker process printed (its own log lines), for failure messages."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def find(self, method: str, path: str) -> tuple[IndexedFunction, dict[str, str]] | None:
        """The function serving `method path` and its route parameters, as the host routes."""
        # Literal routes win over parameterised ones, as in ASP.NET Core routing.
        for function in sorted(self.functions, key=lambda f: f.route.count("{")):
            params = function.match(method, path, self.route_prefix)
            if params is not None:
                return function, params
        return None

    def call(self, method: str, path: str, *, route_params: dict[str, str],
             json_body: Any = None) -> Forwarded:
        """Invoke the function serving `method path` with these route parameters (the host
        normally takes them from the URL; a test may send others to see which ones the worker
        uses) and read the whole response."""
        found = self.find(method, path)
        if found is None:
            raise LookupError(f"no function serves {method} {path}")
        body = b"" if json_body is None else json.dumps(json_body).encode()
        headers = {"content-type": "application/json"} if body else {}
        return self._run(self._call(found[0], route_params, method, path, headers, body))

    # ---- start and stop ------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        port = self._run(self._start_grpc())
        args = [self.python, str(LAUNCHER), "--host", "127.0.0.1", "--port", str(port),
                "--functions-worker-id", self.worker_id,
                "--functions-request-id", self.request_id,
                "--functions-grpc-max-message-length", str(MAX_MESSAGE_BYTES)]
        env = server_env(self.work_dir / "data", self.env)
        env.update({"FUNCTIONS_WORKER_RUNTIME": "python",
                    "AzureWebJobsScriptRoot": str(self.app_dir),
                    PROTOCOL_DIR_ENV: str(self.protocol_dir)})
        with self.log_path.open("wb") as log_file:
            self._process = subprocess.Popen(args, cwd=self.app_dir, env=env, stdout=log_file,
                                             stderr=subprocess.STDOUT)
        self._run(self._handshake(), timeout=4 * STEP_TIMEOUT_SECONDS)
        self.url = self._run(self._start_front())

    def stop(self) -> None:
        if self._thread.is_alive():
            try:
                self._run(self._shutdown(), timeout=30)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=10)
        if self._process is not None and self._process.poll() is None:
            try:
                self._process.wait(timeout=15)  # it leaves by itself once the stream is closed
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = STEP_TIMEOUT_SECONDS) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ---- gRPC side (on the host's loop) --------------------------------------------------

    async def _start_grpc(self) -> int:
        self._outbox = asyncio.Queue()
        self._replies["start"] = self._loop.create_future()
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        self._server = grpc.aio.server(options=options)
        self.rpc.add_FunctionRpcServicer_to_server(_Servicer(self), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return int(port)

    def _send_queue(self) -> asyncio.Queue[Any]:
        assert self._outbox is not None
        return self._outbox

    async def _read(self, request_iterator: AsyncIterator[Any]) -> None:
        async for message in request_iterator:
            kind = message.WhichOneof("content")
            if kind == "rpc_log":
                self.logs.append(message.rpc_log)
                continue
            key = {"start_stream": "start", "worker_init_response": "init",
                   "function_metadata_response": "metadata"}.get(kind)
            if kind == "function_load_response":
                key = f"load:{message.function_load_response.function_id}"
            elif kind == "invocation_response":
                key = f"invocation:{message.invocation_response.invocation_id}"
                self.invocation_responses[message.invocation_response.invocation_id] = (
                    message.invocation_response)
            future = self._replies.pop(key or "", None)
            if future is None:
                self.unexpected.append(message)  # the test fails on these at teardown
            elif not future.done():
                future.set_result(message)

    def _expect(self, key: str) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self._loop.create_future()
        self._replies[key] = future
        return future

    async def _reply(self, future: asyncio.Future[Any], what: str) -> Any:
        """Await a reply from the worker; fail at once if its process has exited."""
        deadline = time.monotonic() + STEP_TIMEOUT_SECONDS
        while not future.done():
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"the worker exited waiting for {what}:\n{self.worker_log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} from the worker:\n{self.worker_log()}")
            await asyncio.sleep(0.05)  # polling the future and the process together
        return future.result()

    def _send(self, **content: Any) -> None:
        self._send_queue().put_nowait(
            self.rpc.StreamingMessage(request_id=self.request_id, **content))

    async def _handshake(self) -> None:
        rpc = self.rpc
        self.start_stream = (await self._reply(self._replies["start"], "StartStream")).start_stream
        if self.start_stream.worker_id != self.worker_id:
            raise RuntimeError(f"StartStream from an unknown worker: {self.start_stream}")

        init = self._expect("init")
        self._send(worker_init_request=rpc.WorkerInitRequest(
            host_version=HOST_VERSION, function_app_directory=str(self.app_dir),
            worker_directory=str(LAUNCHER.parent)))
        self.init_response = (await self._reply(init, "WorkerInitResponse")).worker_init_response
        _check(self.init_response.result, "WorkerInitRequest", self.worker_log)
        self.worker_uri = self.init_response.capabilities.get("HttpUri", "")
        if not self.worker_uri:
            raise RuntimeError("the worker reported no HttpUri: this stand-in only proxies HTTP")

        metadata = self._expect("metadata")
        self._send(functions_metadata_request=rpc.FunctionsMetadataRequest(
            function_app_directory=str(self.app_dir)))
        self.metadata_response = (
            await self._reply(metadata, "FunctionMetadataResponse")).function_metadata_response
        _check(self.metadata_response.result, "FunctionsMetadataRequest", self.worker_log)
        self.functions = [IndexedFunction.from_metadata(m)
                          for m in self.metadata_response.function_metadata_results]

        loads = [(self._expect(f"load:{f.function_id}"), f) for f in self.functions]
        for _, function in loads:
            self._send(function_load_request=rpc.FunctionLoadRequest(
                function_id=function.function_id, metadata=function.metadata))
        for future, function in loads:
            reply = await self._reply(future, f"FunctionLoadResponse for {function.name}")
            self.load_responses.append(reply.function_load_response)
            _check(reply.function_load_response.result, f"loading {function.name}",
                   self.worker_log)

    async def _shutdown(self) -> None:
        if self._front is not None and self._front_task is not None:
            self._front.should_exit = True
            await asyncio.wait_for(self._front_task, timeout=10)
        if self._client is not None:
            await self._client.aclose()
        if self._outbox is not None:
            self._outbox.put_nowait(None)  # ends EventStream: the worker sees the stream close
        if self._server is not None:
            await self._server.stop(grace=2)

    # ---- HTTP side (on the host's loop) --------------------------------------------------

    async def _start_front(self) -> str:
        self._client = httpx.AsyncClient(timeout=HTTP_TIMEOUT, trust_env=False)
        app = Starlette(routes=[Route("/{path:path}", self._front_endpoint, methods=_METHODS)])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._front = uvicorn.Server(config)
        self._front_task = asyncio.create_task(self._front.serve(sockets=[sock]))
        deadline = time.monotonic() + 10
        while not self._front.started:
            if self._front_task.done() or time.monotonic() > deadline:
                raise RuntimeError("the host's HTTP front did not start")
            await asyncio.sleep(0.01)  # polling for readiness
        return f"http://127.0.0.1:{port}"

    async def _front_endpoint(self, request: Request) -> Response:
        found = self.find(request.method, request.url.path)
        if found is None:
            return PlainTextResponse("no function serves this route", status_code=404)
        function, params = found
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        _, upstream = await self._invoke(function, params, request.method, path, headers,
                                         await request.body())

        async def body() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                # The client may be gone (this generator is being cancelled): close the
                # forwarded request all the same, so the worker sees its client leave.
                with anyio.CancelScope(shield=True):
                    await upstream.aclose()

        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
        return StreamingResponse(body(), status_code=upstream.status_code, headers=out_headers)

    async def _invoke(self, function: IndexedFunction, params: dict[str, str], method: str,
                      path: str, headers: dict[str, str],
                      body: bytes) -> tuple[str, httpx.Response]:
        """Send the InvocationRequest and forward the HTTP request; return the open response."""
        rpc = self.rpc
        assert self._client is not None
        invocation_id = str(uuid.uuid4())
        self._expect(f"invocation:{invocation_id}")
        request = rpc.InvocationRequest(
            invocation_id=invocation_id, function_id=function.function_id,
            input_data=[rpc.ParameterBinding(name=function.trigger_param,
                                             data=rpc.TypedData(http=rpc.RpcHttp(params=params)))],
            trace_context=rpc.RpcTraceContext(), retry_context=rpc.RetryContext())
        self.invocations.append(request)
        self._send(invocation_request=request)
        forwarded = self._client.build_request(
            method, self.worker_uri.rstrip("/") + path, content=body,
            headers={**headers, "x-ms-invocation-id": invocation_id})
        return invocation_id, await self._client.send(forwarded, stream=True)

    async def _call(self, function: IndexedFunction, params: dict[str, str], method: str,
                    path: str, headers: dict[str, str], body: bytes) -> Forwarded:
        invocation_id, response = await self._invoke(function, params, method, path, headers,
                                                     body)
        try:
            content = await response.aread()
        finally:
            await response.aclose()
        return Forwarded(response.status_code, response.headers, content, invocation_id)


class _Servicer:
    """FunctionRpc.EventStream: the host's side of the worker's one gRPC stream."""

    def __init__(self, host: FunctionsHost) -> None:
        self._host = host

    async def EventStream(self, request_iterator: AsyncIterator[Any],  # the protocol's name
                          context: Any) -> AsyncIterator[Any]:
        reader = asyncio.create_task(self._host._read(request_iterator))
        try:
            while (message := await self._host._send_queue().get()) is not None:
                yield message
        finally:
            reader.cancel()


def _check(result: Any, what: str, worker_log: Any) -> None:
    if result.status != 1:  # StatusResult.Success
        raise RuntimeError(f"{what} failed: {result.exception.message}\n"
                           f"{result.exception.stack_trace}\n{worker_log()}")


@contextmanager
def functions_host(protocol_dir: Path, python: str, env: dict[str, str], work_dir: Path,
                   app_dir: Path) -> Iterator[FunctionsHost]:
    """Start the worker under a `FunctionsHost` for the block; stop both at exit."""
    work_dir.mkdir(parents=True, exist_ok=True)
    host = FunctionsHost(protocol_dir, python, env, work_dir, app_dir)
    try:
        host.start()
        yield host
    finally:
        host.stop()
    if host.unexpected:
        raise AssertionError(f"unexpected messages from the worker: {host.unexpected}")
