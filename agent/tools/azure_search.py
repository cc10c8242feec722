"""docsearch's Azure AI Search backend: hybrid + semantic-ranked search over one or more indexes.

Each query is sent to every index in `AZURE_SEARCH_INDEXES` at once as one hybrid request:
the keyword query (`search_text`), a `VectorizableTextQuery` on the index's vector field(s)
(`AZURE_SEARCH_VECTOR_FIELDS`; the index's integrated vectorizer embeds the text, so the app
needs no embedding model), and the semantic ranker (`query_type="semantic"`,
`AZURE_SEARCH_SEMANTIC_CONFIG`). Results whose `@search.rerankerScore` is below
`AZURE_SEARCH_RERANKER_THRESHOLD` (0-4 scale) are dropped, as are results without one; the
rest are merged across indexes by reranker score and the best `DOCSEARCH_TOP_K` returned.

Auth is keyless (`DefaultAzureCredential`: managed identity in Azure, `az login` locally; the
identity needs the "Search Index Data Reader" role) unless `AZURE_SEARCH_KEY` is set. The
clients and credential live for the process; `AzureSearchRetriever.aclose()` closes them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import AzureKeyCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.search.documents.aio import SearchClient
from azure.search.documents.models import VectorizableTextQuery, VectorQuery
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field

from agent.settings import Settings
from agent.tools.results import SearchResult, results_json
from agent.tools.toolset import Toolset

log = logging.getLogger(__name__)

DEFAULT_URL_FIELDS = ("url", "source", "location", "metadata_storage_path", "sourcepage",
                      "filepath")
DEFAULT_TITLE_FIELDS = ("title", "name", "metadata_storage_name", "filename")
DEFAULT_CONTENT_FIELDS = ("chunk", "content", "text", "merged_content")
DEFAULT_ID_FIELDS = ("chunk_id", "id", "key")
# Candidates the vector leg hands to the fusion/semantic ranker (it reranks the top 50).
VECTOR_K = 50
MAX_CONTENT_CHARS = 3000


@dataclass(frozen=True)
class RankedResult:
    """A result with the reranker score it was merged by."""

    result: SearchResult
    reranker_score: float
    index: str


def split_list(value: str) -> list[str]:
    """A comma-separated setting as a list of non-empty, stripped names."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _first(doc: Mapping[str, Any], fields: Sequence[str]) -> str:
    for name in fields:
        value = doc.get(name)
        if value not in (None, "", []):
            return value if isinstance(value, str) else str(value)
    return ""


def _reranker_score(doc: Mapping[str, Any]) -> float | None:
    for key in ("@search.reranker_score", "@search.rerankerScore"):
        value = doc.get(key)
        if value is not None:
            return float(value)
    return None


class AzureSearchRetriever:
    """Hybrid, semantically reranked search over several Azure AI Search indexes."""

    def __init__(
        self,
        *,
        endpoint: str,
        indexes: Sequence[str],
        credential: AzureKeyCredential | AsyncTokenCredential,
        semantic_config: str,
        vector_fields: Sequence[str],
        reranker_threshold: float,
        top_k: int,
        url_fields: Sequence[str] = DEFAULT_URL_FIELDS,
        title_fields: Sequence[str] = DEFAULT_TITLE_FIELDS,
        content_fields: Sequence[str] = DEFAULT_CONTENT_FIELDS,
        client_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self._credential = credential
        self._clients = {
            name: SearchClient(endpoint, name, credential, **dict(client_kwargs or {}))
            for name in indexes
        }
        self.semantic_config = semantic_config
        self.vector_fields = list(vector_fields)
        self.reranker_threshold = reranker_threshold
        self.top_k = top_k
        self.url_fields = tuple(url_fields)
        self.title_fields = tuple(title_fields)
        self.content_fields = tuple(content_fields)

    async def search(self, query: str) -> tuple[list[RankedResult], list[str]]:
        """The best results across all indexes, and the indexes that failed (if any)."""
        names = list(self._clients)
        outcomes = await asyncio.gather(
            *(self._search_index(name, query) for name in names), return_exceptions=True
        )
        merged: list[RankedResult] = []
        failed: list[str] = []
        for name, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, AzureError):
                    raise outcome
                log.warning("Azure AI Search query on index %s failed: %s", name,
                            _describe_error(outcome))
                failed.append(name)
            else:
                merged.extend(outcome)
        if failed and len(failed) == len(names):
            raise ToolException(
                "Azure AI Search could not be queried (indexes: " + ", ".join(failed) + ")."
            )
        merged.sort(key=lambda r: r.reranker_score, reverse=True)
        return merged[: self.top_k], failed

    async def _search_index(self, index: str, query: str) -> list[RankedResult]:
        vector_queries: list[VectorQuery] | None = (
            [VectorizableTextQuery(text=query, k_nearest_neighbors=VECTOR_K,
                                   fields=",".join(self.vector_fields))]
            if self.vector_fields else None
        )
        paged = await self._clients[index].search(
            search_text=query,
            vector_queries=vector_queries,
            query_type="semantic",
            semantic_configuration_name=self.semantic_config,
            top=self.top_k,
        )
        found: list[RankedResult] = []
        seen = 0
        async for doc in paged:
            seen += 1
            score = _reranker_score(doc)
            if score is not None and score >= self.reranker_threshold:
                found.append(RankedResult(self._to_result(index, doc), score, index))
            if seen >= self.top_k:  # don't page on: the rest rank lower
                break
        return found

    def _to_result(self, index: str, doc: Mapping[str, Any]) -> SearchResult:
        source = _first(doc, self.url_fields)
        if not source:
            source = f"azure-search:{index}/{_first(doc, DEFAULT_ID_FIELDS) or 'unknown'}"
        title = _first(doc, self.title_fields) or source.rsplit("/", 1)[-1]
        content = _first(doc, self.content_fields)[:MAX_CONTENT_CHARS]
        return SearchResult(title=title, source=source, content=content)

    async def aclose(self) -> None:
        """Close every index client and, when it is a token credential, the credential."""
        for client in self._clients.values():
            await client.close()
        close = getattr(self._credential, "close", None)
        if close is not None:
            await close()


def _describe_error(err: AzureError) -> str:
    """A short error description that never includes request headers (keys, tokens)."""
    if isinstance(err, HttpResponseError):
        return f"HTTP {err.status_code} {err.reason or ''}".strip()
    return type(err).__name__


class _SearchArgs(BaseModel):
    query: str = Field(description="What to look for, in natural language or keywords.")


def make_search_tool(retriever: AzureSearchRetriever) -> BaseTool:
    """The `search_documents` tool over a retriever."""

    async def search_documents(query: str) -> str:
        ranked, failed = await retriever.search(query)
        extra: dict[str, Any] = {}
        if failed:
            extra["note"] = "Some indexes could not be searched: " + ", ".join(failed) + "."
        if not ranked:
            extra["note"] = (extra.get("note", "") + " No document passed the relevance "
                             "threshold; try other words.").strip()
        return results_json([r.result for r in ranked], **extra)

    return StructuredTool.from_function(
        coroutine=search_documents,
        name="search_documents",
        description="Search the document index (hybrid keyword + vector search with semantic "
        "ranking) and return the most relevant passages with their source URLs.",
        args_schema=_SearchArgs,
    )


def build_retriever(
    settings: Settings,
    *,
    credential: AzureKeyCredential | AsyncTokenCredential | None = None,
    client_kwargs: Mapping[str, Any] | None = None,
) -> AzureSearchRetriever:
    """A retriever from the settings: an API key if AZURE_SEARCH_KEY is set, else keyless."""
    if credential is None:
        if settings.azure_search_key is not None:
            credential = AzureKeyCredential(settings.azure_search_key.get_secret_value())
        else:
            from azure.identity.aio import DefaultAzureCredential

            credential = DefaultAzureCredential()
    return AzureSearchRetriever(
        endpoint=settings.azure_search_endpoint,
        indexes=split_list(settings.azure_search_indexes),
        credential=credential,
        semantic_config=settings.azure_search_semantic_config,
        vector_fields=split_list(settings.azure_search_vector_fields),
        reranker_threshold=settings.azure_search_reranker_threshold,
        top_k=settings.docsearch_top_k,
        client_kwargs=client_kwargs,
    )


def build_azure_search_tools(settings: Settings) -> Toolset:
    """`search_documents` when AZURE_SEARCH_ENDPOINT and AZURE_SEARCH_INDEXES are set (none
    otherwise); its clients and credential are closed with the bot."""
    if not settings.azure_search_endpoint:
        return Toolset()
    if not split_list(settings.azure_search_indexes):
        log.warning("AZURE_SEARCH_ENDPOINT is set but AZURE_SEARCH_INDEXES is empty; "
                    "Azure AI Search is not used.")
        return Toolset()
    retriever = build_retriever(settings)
    return Toolset((make_search_tool(retriever),), closers=(retriever.aclose,))
