"""docsearch's Azure AI Search backend, against a real loopback server speaking its protocol."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from langchain_core.tools import ToolException
from pydantic import SecretStr

from agent.settings import Settings
from agent.tools.azure_search import (
    AzureSearchRetriever,
    build_azure_search_tools,
    build_retriever,
    make_search_tool,
)
from agent.tools.results import parse_results
from agent.tools.toolset import Toolset
from tests.support.fake_azure_search import FakeAzureSearch

KEY = "test-admin-key-123"


def doc(title: str, reranker: float | None, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"@search.score": 0.03, "title": title,
                           "chunk": f"Passage about {title}.", **fields}
    if reranker is not None:
        out["@search.rerankerScore"] = reranker
    return out


@pytest.fixture
def service() -> Iterator[FakeAzureSearch]:
    with FakeAzureSearch(api_key=KEY, documents={
        "docs-a": [
            doc("Deploying", 3.1, url="https://contoso.example/deploy"),
            doc("Irrelevant", 0.7, url="https://contoso.example/noise"),
            doc("Networking", 2.2, metadata_storage_path="https://blob.example/net.pdf"),
        ],
        "docs-b": [
            doc("Scaling", 2.8, source="https://contoso.example/scale"),
            doc("No reranker", None, url="https://contoso.example/none"),
            {"@search.score": 0.02, "@search.rerankerScore": 1.9, "chunk_id": "c-7",
             "content": "A chunk with no title or url."},
        ],
    }) as fake:
        yield fake


def settings_for(endpoint: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "azure_search_endpoint": endpoint,
        "azure_search_key": SecretStr(KEY),
        "azure_search_indexes": "docs-a, docs-b",
        "azure_search_semantic_config": "my-semantic",
        "azure_search_vector_fields": "text_vector",
        "azure_search_reranker_threshold": 1.5,
        "docsearch_top_k": 4,
        **overrides,
    }
    return Settings(**values)


async def test_hybrid_semantic_query_over_the_wire(service: FakeAzureSearch) -> None:
    retriever = build_retriever(settings_for(service.endpoint))
    try:
        out = await make_search_tool(retriever).ainvoke({"query": "how do I deploy?"})
    finally:
        await retriever.aclose()

    assert {r.index for r in service.requests} == {"docs-a", "docs-b"}
    for request in service.requests:
        assert request.method == "POST"
        assert request.path == f"/indexes('{request.index}')/docs/search.post.search"
        assert request.query["api-version"] == ["2026-04-01"]
        assert request.headers["api-key"] == KEY
        assert "authorization" not in request.headers
        body = request.body
        assert body["search"] == "how do I deploy?"
        assert body["queryType"] == "semantic"
        assert body["semanticConfiguration"] == "my-semantic"
        assert body["top"] == 4
        assert body["vectorQueries"] == [
            {"kind": "text", "text": "how do I deploy?", "k": 50, "fields": "text_vector"}
        ]

    results = parse_results(out)
    # Merged across both indexes by reranker score; < 1.5 and missing scores dropped.
    assert [r.title for r in results] == ["Deploying", "Scaling", "Networking", "c-7"]
    assert [r.source for r in results] == [
        "https://contoso.example/deploy", "https://contoso.example/scale",
        "https://blob.example/net.pdf", "azure-search:docs-b/c-7",
    ]
    assert results[0].content == "Passage about Deploying."
    assert results[3].content == "A chunk with no title or url."


async def test_top_k_and_threshold_limit_the_merge(service: FakeAzureSearch) -> None:
    retriever = build_retriever(settings_for(service.endpoint, docsearch_top_k=2,
                                             azure_search_reranker_threshold=2.5))
    try:
        ranked, failed = await retriever.search("scaling")
    finally:
        await retriever.aclose()
    assert failed == []
    assert [(r.result.title, r.reranker_score, r.index) for r in ranked] == [
        ("Deploying", 3.1, "docs-a"), ("Scaling", 2.8, "docs-b")]


async def test_nothing_above_the_threshold_says_so(service: FakeAzureSearch) -> None:
    retriever = build_retriever(settings_for(service.endpoint,
                                             azure_search_reranker_threshold=3.9))
    try:
        out = json.loads(await make_search_tool(retriever).ainvoke({"query": "x"}))
    finally:
        await retriever.aclose()
    assert out["results"] == []
    assert "relevance threshold" in out["note"]


async def test_a_missing_index_is_reported_and_the_others_still_answer(
    service: FakeAzureSearch,
) -> None:
    retriever = build_retriever(settings_for(service.endpoint,
                                             azure_search_indexes="docs-a,missing"))
    try:
        out = json.loads(await make_search_tool(retriever).ainvoke({"query": "deploy"}))
    finally:
        await retriever.aclose()
    assert [r["title"] for r in out["results"]] == ["Deploying", "Networking"]
    assert "missing" in out["note"]


async def test_a_wrong_key_is_a_tool_error_without_the_key(service: FakeAzureSearch) -> None:
    retriever = build_retriever(settings_for(service.endpoint,
                                             azure_search_key=SecretStr("wrong-key-456")))
    try:
        with pytest.raises(ToolException) as caught:
            await make_search_tool(retriever).ainvoke({"query": "deploy"})
    finally:
        await retriever.aclose()
    assert "could not be queried" in str(caught.value)
    assert "wrong-key-456" not in str(caught.value)


class StaticTokenCredential:
    """An async token credential handing out one fixed token (stands in for Entra ID)."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken("entra-token-xyz", int(time.time()) + 3600)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def test_keyless_bearer_token_over_tls() -> None:
    with FakeAzureSearch(tls=True, documents={"docs-a": [
        doc("Deploying", 3.0, url="https://contoso.example/deploy")]}) as service:
        credential = StaticTokenCredential()
        retriever = build_retriever(
            settings_for(service.endpoint, azure_search_key=None,
                         azure_search_indexes="docs-a"),
            credential=credential,
            client_kwargs={"connection_verify": str(service.ca_file)},
        )
        try:
            ranked, _ = await retriever.search("deploy")
        finally:
            await retriever.aclose()
    assert [r.result.source for r in ranked] == ["https://contoso.example/deploy"]
    request = service.requests[0]
    assert request.headers["authorization"] == "Bearer entra-token-xyz"
    assert "api-key" not in request.headers
    assert credential.scopes == [("https://search.azure.com/.default",)]
    assert credential.closed


async def test_builds_the_tool_only_when_configured() -> None:
    assert build_azure_search_tools(Settings(azure_search_endpoint="")) == Toolset()
    assert build_azure_search_tools(
        Settings(azure_search_endpoint="https://x.search.windows.net",
                 azure_search_indexes=" ")) == Toolset()
    toolset = build_azure_search_tools(settings_for("https://x.search.windows.net"))
    assert [t.name for t in toolset.tools] == ["search_documents"]
    assert toolset.tools[0].coroutine is not None  # type: ignore[attr-defined]
    [close] = toolset.closers  # the retriever's clients, closed with the bot
    assert isinstance(getattr(close, "__self__", None), AzureSearchRetriever)
    await close()


async def test_without_a_key_the_default_credential_is_keyless() -> None:
    # Not exercised over the wire (no Entra ID here); the bearer path is, in the TLS test.
    retriever = build_retriever(settings_for("https://x.search.windows.net",
                                             azure_search_key=None))
    try:
        assert isinstance(retriever, AzureSearchRetriever)
        assert type(retriever._credential).__name__ == "DefaultAzureCredential"
        assert type(retriever._credential).__module__.startswith("azure.identity.aio")
    finally:
        await retriever.aclose()
