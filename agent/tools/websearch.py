"""The websearch specialist's tools: `web_search` (a configured provider) and `fetch_page`.

`web_search(query)` asks the provider in WEBSEARCH_PROVIDER (searxng, tavily or brave; see
`agent.tools.web_providers`) and returns the shared results shape (title, source = page URL,
content = snippet). `fetch_page(url)` reads one page through `netguard` — any public host, with
the private/loopback/link-local/metadata refusals applied after DNS and on every redirect —
and returns its readable text (scripts, styles and markup removed, whitespace collapsed,
bounded), with `source` = the final URL.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from langchain_core.tools import StructuredTool, ToolException
from pydantic import BaseModel, Field, field_validator

from agent.settings import Settings
from agent.tools import web_providers
from agent.tools.calls import ToolCallRefused
from agent.tools.netguard import OutboundError, OutboundPolicy, check_url_form, fetch
from agent.tools.results import SearchResult, results_json
from agent.tools.toolset import Toolset

MAX_PAGE_CHARS = 20_000
MAX_RESULTS = 5
_WHITESPACE = re.compile(r"\s+")
_TEXT_TYPES = ("text/plain", "text/markdown", "application/json", "text/csv")
_HTML_TYPES = ("text/html", "application/xhtml+xml", "")
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object",
                        "canvas"})
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "table", "section",
                         "article", "header", "footer", "nav", "aside", "main", "h1", "h2",
                         "h3", "h4", "h5", "h6", "pre", "blockquote", "hr", "dt", "dd",
                         "figcaption", "form"})


class SearchArgs(BaseModel):
    """Arguments of web_search (an empty query is refused)."""

    query: str = Field(description="What to search the web for, as a search-engine query.")

    @field_validator("query")
    @classmethod
    def _not_empty(cls, query: str) -> str:
        if not query.strip():
            raise ToolCallRefused("the search query is empty")
        return query


def fetch_args(policy: OutboundPolicy) -> type[BaseModel]:
    """fetch_page's args model: refuses what `policy` refuses without DNS (not http(s), no
    host, credentials, a private or metadata IP literal); the rest is checked on the call."""

    class FetchArgs(BaseModel):
        url: str = Field(description="The http(s) URL of the page to read, e.g. from a search "
                         "result's source.")

        @field_validator("url")
        @classmethod
        def _checked(cls, url: str) -> str:
            try:
                check_url_form(url, policy)
            except OutboundError as exc:
                raise ToolCallRefused(str(exc)) from exc
            return url

    return FetchArgs


def build_tools(settings: Settings) -> Toolset:
    """web_search and fetch_page when a provider is configured; none otherwise."""
    provider = settings.websearch_provider
    endpoint = web_providers.endpoint_for(provider, settings.websearch_endpoint)
    key = settings.websearch_api_key.get_secret_value() if settings.websearch_api_key else None
    if not provider or not endpoint or (provider in web_providers.NEEDS_KEY and not key):
        return Toolset()
    search_policy = web_providers.provider_policy(
        endpoint, settings.outbound_timeout_seconds, settings.outbound_max_bytes)
    page_policy = OutboundPolicy.from_settings(settings)

    async def web_search(query: str) -> str:
        try:
            results = await web_providers.search_web(
                provider, endpoint, key, query, policy=search_policy, max_results=MAX_RESULTS)
        except (OutboundError, web_providers.WebSearchError) as exc:
            raise ToolException(f"web search failed: {exc}") from exc
        extra = {} if results else {"note": "The web search found nothing for this query."}
        return results_json(results, query=query, **extra)

    async def fetch_page_tool(url: str) -> str:
        return await fetch_page(url, page_policy)

    return Toolset((
        StructuredTool.from_function(
            coroutine=web_search, name="web_search", args_schema=SearchArgs,
            description="Search the public web. Returns results with title, source (the page "
            "URL, to cite) and a snippet.",
        ),
        StructuredTool.from_function(
            coroutine=fetch_page_tool, name="fetch_page", args_schema=fetch_args(page_policy),
            description="Read the text of one public web page (for example a search result) "
            "when its snippet is not enough. Returns the page text with its URL as source.",
        ),
    ))


async def fetch_page(url: str, policy: OutboundPolicy) -> str:
    """The readable text of the page at `url` as shared results JSON, or ToolException."""
    try:
        response = await fetch("GET", url, policy, headers={
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1"})
    except OutboundError as exc:
        raise ToolException(str(exc)) from exc
    if response.status_code >= 400:
        raise ToolException(f"HTTP {response.status_code} fetching {response.url}")
    kind = response.content_type
    if kind in _HTML_TYPES:
        title, text = html_to_text(response.text)
    elif kind in _TEXT_TYPES or kind.startswith("text/"):
        title, text = "", _collapse(response.text)
    else:
        raise ToolException(f"cannot read {kind} content from {response.url} as text")
    truncated = len(text) > MAX_PAGE_CHARS
    result = SearchResult(title=title or response.url, source=response.url,
                          content=text[:MAX_PAGE_CHARS] + (" …[truncated]" if truncated else ""))
    return results_json([result], **({"truncated": True} if truncated else {}))


def html_to_text(markup: str) -> tuple[str, str]:
    """(title, text) of an HTML document: no scripts/styles/markup, whitespace collapsed."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return " ".join("".join(parser.title).split()), _collapse("".join(parser.parts))


def _collapse(text: str) -> str:
    """Whitespace runs to one space per line; blank lines dropped."""
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip_depth = 0
        self._in_title = False
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self._pre_depth += 1
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP_TAGS:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip_depth:
            # Source line breaks are just spaces in HTML, except inside <pre>.
            self.parts.append(data if self._pre_depth else _WHITESPACE.sub(" ", data))
