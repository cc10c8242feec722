"""Throttling (429), unavailability (503) and dropped connections between the app and Cosmos
DB, injected by a proxy in front of the stand-in: the SDK's retries (and the saver's handling of
writes that went through before the connection dropped) lose nothing."""

from __future__ import annotations

from typing import Any

from azure.cosmos.aio import CosmosClient
from langchain_core.messages import HumanMessage
from pydantic import SecretStr

from agent.memory.cosmos import CosmosSaver
from agent.memory.leases import TurnGate
from agent.settings import Settings
from standins.cosmos import CosmosEndpoint, build_chat_graph
from tests.support.cosmos_faults import fault_proxy

# Every fourth data request fails one way or another (each costs the SDK a back-off).
CYCLE = ["429", "ok", "ok", "ok", "drop", "ok", "ok", "ok", "lost", "ok", "ok", "ok",
         "503", "ok", "ok", "ok"]
TURNS = 4


async def test_faults_on_the_wire_lose_no_turn(cosmos: CosmosEndpoint) -> None:
    run: Any = {"configurable": {"thread_id": "faulty"}}
    with fault_proxy(cosmos.url, CYCLE) as proxy:
        settings = Settings(
            azure_cosmosdb_endpoint=proxy.url, azure_cosmosdb_key=SecretStr(cosmos.key),
            azure_cosmosdb_database="faults", azure_cosmosdb_container="threads",
            azure_cosmosdb_create_if_missing=True, thread_ttl_seconds=3600)
        async with CosmosSaver.from_settings(settings) as saver:  # the app's client and saver
            graph = build_chat_graph(saver)
            gate = TurnGate(saver.leases, policy="reject", wait_seconds=0, lease_seconds=30)
            for turn in range(TURNS):
                async with await gate.claim("faulty"):  # lease create, delete under faults
                    await graph.ainvoke({"messages": [HumanMessage(f"question {turn}")]}, run,
                                        durability="exit")
            await graph.ainvoke({"messages": [HumanMessage("doomed")]},
                                {"configurable": {"thread_id": "doomed"}}, durability="exit")
            await saver.adelete_thread("doomed")

    assert set(proxy.injected) == {"429", "503", "drop", "lost"}, proxy.injected
    async with CosmosClient(cosmos.url, credential=cosmos.key) as client:  # no proxy now
        container = client.get_database_client("faults").get_container_client("threads")
        saver = CosmosSaver(container, ttl_seconds=3600, max_bytes=16 * 1024 * 1024)
        state = await build_chat_graph(saver).aget_state(run)
        said = [m.content for m in state.values["messages"]]
        assert said == [text for turn in range(TURNS)
                        for text in (f"question {turn}", f"echo: question {turn}")]
        assert await saver.aget_tuple({"configurable": {"thread_id": "doomed"}}) is None
        leftovers = [i async for i in container.query_items(
            "SELECT c.id FROM c WHERE c.thread_id = 'doomed' OR c.kind = 'lease'")]
        assert leftovers == []
