"""The FunctionRpc messages for the worker-level test: compiled from `FunctionRpc.proto` with
grpcio-tools at test time, into a folder of the caller's, then imported.

    out = compile_protocol(tmp_path)       # writes FunctionRpc_pb2.py and FunctionRpc_pb2_grpc.py
    rpc = load_protocol(out)               # rpc.StreamingMessage, rpc.FunctionRpcStub, ...

The worker launcher imports the same generated files (it gets the folder in
`FUNCTIONS_TEST_PROTOCOL_DIR`), so host and worker speak exactly these messages.
"""

from __future__ import annotations

import importlib
import sys
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

PROTO = Path(__file__).resolve().with_name("FunctionRpc.proto")
PROTOCOL_DIR_ENV = "FUNCTIONS_TEST_PROTOCOL_DIR"


def compile_protocol(out_dir: Path) -> Path:
    """Run protoc (grpcio-tools) on FunctionRpc.proto; return the folder of the modules."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = resources.files("grpc_tools") / "_proto"  # google/protobuf/duration.proto
    code = protoc.main([
        "grpc_tools.protoc", f"-I{PROTO.parent}", f"-I{well_known}",
        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", str(PROTO),
    ])
    if code != 0:
        raise RuntimeError(f"protoc failed on {PROTO} (exit {code})")
    return out_dir


def load_protocol(out_dir: Path) -> SimpleNamespace:
    """Every message class plus the service stub, servicer and registration function."""
    if str(out_dir) not in sys.path:
        sys.path.insert(0, str(out_dir))  # the generated _grpc module imports `FunctionRpc_pb2`
    messages = importlib.import_module("FunctionRpc_pb2")
    service = importlib.import_module("FunctionRpc_pb2_grpc")
    names = {name: getattr(messages, name) for name in messages.DESCRIPTOR.message_types_by_name}
    return SimpleNamespace(
        **names,
        FunctionRpcStub=service.FunctionRpcStub,
        FunctionRpcServicer=service.FunctionRpcServicer,
        add_FunctionRpcServicer_to_server=service.add_FunctionRpcServicer_to_server,
    )
