"""The public LangGraph checkpointer conformance suite against CosmosSaver on a Cosmos server:
every base capability, and `prune`, the extended one it implements."""

from __future__ import annotations

from collections.abc import AsyncIterator

from azure.cosmos.aio import CosmosClient
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import BASE_CAPABILITIES, Capability

from agent.memory.cosmos import CosmosSaver
from standins.cosmos import CosmosEndpoint, create_container

EXPECTED = {*BASE_CAPABILITIES, Capability.PRUNE}


async def test_every_base_capability_and_prune_pass(cosmos: CosmosEndpoint) -> None:
    async with CosmosClient(cosmos.url, credential=cosmos.key) as client:
        container = await create_container(client, "conformance", "threads")

        @checkpointer_test(name="CosmosSaver")
        async def factory() -> AsyncIterator[CosmosSaver]:
            yield CosmosSaver(container, ttl_seconds=3600, max_bytes=16 * 1024 * 1024)

        report = await validate(factory)

    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures
    for capability in EXPECTED:
        result = report.results[capability.value]
        assert result.passed and result.tests_passed > 0 and result.tests_failed == 0, failures
