"""The worker process of the worker-level test: a thin gRPC front for the real worker library.

In Azure the Functions host starts the platform's Python worker, a thin proxy that opens the
gRPC stream to the host and hands each message to the worker library (`azure-functions-runtime`
on Python 3.13, the version the app pins in requirements.txt). This launcher is the test's own
stand-in for that proxy, nothing more: it takes the host's command line, connects, sends
`StartStream`, passes `WorkerInitRequest`, `FunctionsMetadataRequest`, `FunctionLoadRequest`
and `InvocationRequest` to the library's handlers of the same name, and sends their responses
back. Indexing, binding, HTTP streaming (the library's own HTTP server, reported as `HttpUri`)
and the app's code all run in the library, unchanged.

    python launcher.py --host 127.0.0.1 --port 50051 --functions-worker-id W \
        --functions-request-id R --functions-grpc-max-message-length 2147483647

The compiled protocol modules are imported from the folder in FUNCTIONS_TEST_PROTOCOL_DIR.
The process ends when the host closes the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("functions_test_launcher")


@dataclass
class WorkerRequest:
    """What the library's handlers take: the message, plus `host`/`protos` at init."""

    name: str
    request: Any
    properties: dict[str, Any] | None = None


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--functions-worker-id", required=True)
    parser.add_argument("--functions-request-id", required=True)
    parser.add_argument("--functions-grpc-max-message-length", type=int, default=0)
    return parser.parse_args()


class _GrpcLogHandler(logging.Handler):
    """Sends log records to the host as `RpcLog`, as the platform's worker does."""

    def __init__(self, protos: Any, send: Any, request_id: str) -> None:
        super().__init__()
        self._protos, self._send, self._request_id = protos, send, request_id

    def emit(self, record: logging.LogRecord) -> None:
        level = min(record.levelno // 10, 5)  # DEBUG=1 .. CRITICAL=5, as RpcLog.Level
        self._send(self._protos.StreamingMessage(request_id=self._request_id, rpc_log=(
            self._protos.RpcLog(level=level, category=record.name,
                                message=self.format(record)))))


async def _serve(args: argparse.Namespace) -> None:
    import grpc

    sys.path.insert(0, os.environ["FUNCTIONS_TEST_PROTOCOL_DIR"])
    protos = importlib.import_module("FunctionRpc_pb2")
    service = importlib.import_module("FunctionRpc_pb2_grpc")
    import azure_functions_runtime as library

    options = []
    if args.functions_grpc_max_message_length:
        options = [("grpc.max_receive_message_length", args.functions_grpc_max_message_length),
                   ("grpc.max_send_message_length", args.functions_grpc_max_message_length)]
    outbox: asyncio.Queue[Any] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def send(message: Any) -> None:
        loop.call_soon_threadsafe(outbox.put_nowait, message)

    async def outgoing() -> Any:
        while True:
            yield await outbox.get()

    handlers = {
        "worker_init_request": ("worker_init_response", library.worker_init_request),
        "functions_metadata_request": ("function_metadata_response",
                                       library.functions_metadata_request),
        "function_load_request": ("function_load_response", library.function_load_request),
        "invocation_request": ("invocation_response", library.invocation_request),
    }

    async def dispatch(message: Any) -> None:
        kind = message.WhichOneof("content")
        if kind not in handlers:
            log.warning("ignoring a %s message", kind)
            return
        reply, handler = handlers[kind]
        properties: dict[str, Any] | None = None
        if kind == "worker_init_request":
            # The platform's worker puts the app folder on sys.path before indexing.
            app_dir = message.worker_init_request.function_app_directory
            if app_dir not in sys.path:
                sys.path.insert(0, app_dir)
            properties = {"host": args.host, "protos": protos}
        try:
            response = await handler(WorkerRequest(kind, message, properties))
        except Exception:  # the library answers failures itself; this is a launcher bug
            log.exception("handling %s failed", kind)
            return
        outbox.put_nowait(protos.StreamingMessage(request_id=message.request_id,
                                                  **{reply: response}))

    library.start_threadpool_executor()
    tasks: set[asyncio.Task[None]] = set()
    async with grpc.aio.insecure_channel(f"{args.host}:{args.port}", options=options) as channel:
        await asyncio.wait_for(channel.channel_ready(), timeout=10)
        outbox.put_nowait(protos.StreamingMessage(
            request_id=args.functions_request_id,
            start_stream=protos.StartStream(worker_id=args.functions_worker_id)))
        grpc_logs = _GrpcLogHandler(protos, send, args.functions_request_id)
        logging.getLogger().addHandler(grpc_logs)
        stream = service.FunctionRpcStub(channel).EventStream(outgoing())
        try:
            async for message in stream:
                task = asyncio.create_task(dispatch(message))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except grpc.aio.AioRpcError as exc:
            log.info("the host closed the stream: %s", exc.code())
        finally:
            logging.getLogger().removeHandler(grpc_logs)
    log.info("the host closed the stream; stopping")
    library.stop_threadpool_executor()


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _args()
    log.info("worker %s connecting to %s:%s", args.functions_worker_id, args.host, args.port)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
