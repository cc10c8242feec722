"""Web search APIs behind one call: SearXNG (JSON API), Tavily and Brave Search.

`search_web(provider, endpoint, api_key, query, ...)` speaks the chosen provider's protocol and
returns `SearchResult`s (title, source = page URL, content = snippet):

- searxng: `GET {endpoint}/search?q=...&format=json` (the instance must enable the json format;
  an API key, if set, is sent as a Bearer token for a fronting proxy);
- tavily: `POST {endpoint}/search` with a JSON body and `Authorization: Bearer <key>`;
- brave: `GET {endpoint}/web/search?q=...` with `X-Subscription-Token: <key>`.

The endpoint is operator configuration, not model input, so it may be a private address (a
self-hosted SearXNG in the same network); the call is still limited to that one host and to the
outbound timeout and size cap, and metadata addresses stay refused.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

from agent.tools.netguard import OutboundPolicy, fetch, origin
from agent.tools.results import SearchResult

DEFAULT_ENDPOINTS: dict[str, str] = {
    "tavily": "https://api.tavily.com",
    "brave": "https://api.search.brave.com/res/v1",
}
NEEDS_KEY = frozenset({"tavily", "brave"})
MAX_SNIPPET_CHARS = 1000


class WebSearchError(Exception):
    """The provider answered with an error or an unexpected payload."""


def endpoint_for(provider: str, endpoint: str) -> str:
    """The configured endpoint, else the provider's public API URL ("" if it has none)."""
    return (endpoint or DEFAULT_ENDPOINTS.get(provider, "")).rstrip("/")


def provider_policy(endpoint: str, timeout_seconds: float, max_bytes: int) -> OutboundPolicy:
    """The outbound policy for calls to the configured provider endpoint (its origin only)."""
    return OutboundPolicy(
        allow_private=True, timeout_seconds=timeout_seconds, max_bytes=max_bytes,
        allowed_origins=frozenset({origin(endpoint)}),
    )


async def search_web(
    provider: str,
    endpoint: str,
    api_key: str | None,
    query: str,
    *,
    policy: OutboundPolicy,
    max_results: int = 5,
) -> list[SearchResult]:
    """Run `query` on `provider` and return at most `max_results` results."""
    if provider == "searxng":
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        payload = await _get_json(f"{endpoint}/search", policy, headers,
                                  params={"q": query, "format": "json"})
        items = payload.get("results", [])
        rows = [(i.get("title"), i.get("url"), i.get("content")) for i in _dicts(items)]
    elif provider == "tavily":
        payload = await _post_json(
            f"{endpoint}/search", policy,
            {"Authorization": f"Bearer {api_key or ''}", "Accept": "application/json"},
            {"query": query, "max_results": max_results, "search_depth": "basic",
             "include_answer": False},
        )
        items = payload.get("results", [])
        rows = [(i.get("title"), i.get("url"), i.get("content")) for i in _dicts(items)]
    elif provider == "brave":
        payload = await _get_json(
            f"{endpoint}/web/search", policy,
            {"X-Subscription-Token": api_key or "", "Accept": "application/json"},
            params={"q": query, "count": max_results},
        )
        web = payload.get("web") if isinstance(payload.get("web"), dict) else {}
        items = (web or {}).get("results", [])
        rows = [(i.get("title"), i.get("url"), i.get("description")) for i in _dicts(items)]
    else:
        raise WebSearchError(f"unknown web search provider {provider!r}")
    results = [
        SearchResult(title=_plain(title) or str(url), source=str(url),
                     content=_plain(snippet)[:MAX_SNIPPET_CHARS])
        for title, url, snippet in rows
        if isinstance(url, str) and url.startswith(("http://", "https://"))
    ]
    return results[:max_results]


async def _get_json(
    url: str, policy: OutboundPolicy, headers: dict[str, str], params: dict[str, Any]
) -> dict[str, Any]:
    response = await fetch("GET", url, policy, params=params, headers=headers)
    return _payload(response.status_code, response.text)


async def _post_json(
    url: str, policy: OutboundPolicy, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await fetch("POST", url, policy, headers=headers, json=body)
    return _payload(response.status_code, response.text)


def _payload(status: int, text: str) -> dict[str, Any]:
    if status >= 400:
        raise WebSearchError(f"the web search provider answered HTTP {status}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise WebSearchError("the web search provider did not answer with JSON") from exc
    if not isinstance(data, dict):
        raise WebSearchError("the web search provider answered with an unexpected payload")
    return data


def _dicts(items: Any) -> list[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _plain(value: Any) -> str:
    """Snippet text without markup (Brave highlights with <strong>) or runs of whitespace."""
    text = html.unescape(re.sub(r"<[^>]+>", "", str(value or "")))
    return " ".join(text.split())
