"""The docsearch specialist's tools: Azure AI Search when configured, else the local index."""

from __future__ import annotations

import asyncio
from functools import partial

from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from agent.settings import Settings
from agent.tools.local_index import LocalIndex
from agent.tools.results import results_json
from agent.tools.toolset import Toolset


class SearchDocumentsArgs(BaseModel):
    """Arguments of `search_documents`."""

    query: str = Field(description="What to look for, in the words the documents would use.")


def local_index(settings: Settings) -> LocalIndex:
    """The local index of `DOCS_DIR`, stored in `DATA_DIR`."""
    return LocalIndex(settings.docs_dir, settings.data_dir / "docs_index.sqlite")


async def _search_local(index: LocalIndex, top_k: int, query: str) -> str:
    results = await asyncio.to_thread(index.search, query, top_k)
    return results_json(results)


def build_tools(settings: Settings) -> Toolset:
    """`search_documents` over Azure AI Search, or over the local index (refreshed now)."""
    if settings.azure_search_endpoint:
        from agent.tools.azure_search import build_azure_search_tools

        toolset = build_azure_search_tools(settings)
        if toolset.tools:
            return toolset  # else half-configured (no indexes, logged): use the local index
    index = local_index(settings)
    index.refresh()
    return Toolset((
        StructuredTool.from_function(
            coroutine=partial(_search_local, index, settings.docsearch_top_k),
            name="search_documents",
            description="Full-text search (BM25) over the document index. Returns passages "
            "with a title, a source to cite and the passage text.",
            args_schema=SearchDocumentsArgs,
        ),
    ))
