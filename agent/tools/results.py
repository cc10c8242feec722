"""The JSON shape every search-like tool returns, so models and citations see one format.

A tool returns `{"results": [{"title", "source", "content"}, ...]}` (plus optional extra keys
such as `"sql"` or `"note"`). `source` is what the answer cites as `[[n]](source)`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel


class SearchResult(BaseModel):
    """One retrieved passage and where it came from."""

    title: str
    source: str
    content: str


def results_json(results: list[SearchResult], **extra: Any) -> str:
    """Serialise results (and any extra top-level keys) as the tool's string output."""
    payload: dict[str, Any] = {"results": [r.model_dump() for r in results], **extra}
    return json.dumps(payload, ensure_ascii=False)


def parse_results(text: str) -> list[SearchResult]:
    """Read results back from a tool's output; an output of another shape gives none."""
    try:
        payload = json.loads(text)
    except (TypeError, ValueError):
        return []
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        return []
    out: list[SearchResult] = []
    for item in payload["results"]:
        if isinstance(item, dict):
            try:
                out.append(SearchResult.model_validate(item))
            except ValueError:
                continue
    return out
