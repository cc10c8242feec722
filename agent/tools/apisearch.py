"""The apisearch specialist's tools: the GET operations of the REST API in APISEARCH_OPENAPI_SPEC.

The setting is a file path or an http(s) URL of an OpenAPI 3.x document (JSON, or YAML when
PyYAML is installed). A URL is fetched through `netguard` with the outbound rules; the tools
then call only the host of the spec's `servers[0]` (see `agent.tools.openapi_tools`). A spec
that cannot be loaded is logged and leaves the specialist without tools (so it is not offered
to the router) rather than stopping the app. `APISEARCH_OPERATIONS` (operationIds) picks the
operations offered to the model; at most 128 (Azure OpenAI's limit of tools per request).
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from langchain_core.tools import BaseTool

from agent.settings import Settings
from agent.tools import openapi_tools
from agent.tools.netguard import OutboundError, OutboundPolicy, fetch, origin
from agent.tools.toolset import Toolset

logger = logging.getLogger(__name__)


def build_tools(settings: Settings) -> Toolset:
    """One tool per GET operation of the configured spec; none when unset or unusable.
    Nothing to close: each call opens and closes its own connection (`netguard.fetch`)."""
    source = settings.apisearch_openapi_spec.strip()
    if not source:
        return Toolset()
    try:
        if _is_url(source):
            with ThreadPoolExecutor(max_workers=1) as pool:  # works inside a running loop too
                spec, spec_url = pool.submit(asyncio.run, load_spec(source, settings)).result()
        else:
            spec, spec_url = _read_file(source), None
        return Toolset(tuple(tools_for_spec(spec, spec_url, settings)))
    except (OSError, OutboundError, openapi_tools.OpenAPISpecError) as exc:
        logger.error("apisearch disabled: cannot use APISEARCH_OPENAPI_SPEC: %s", exc)
        return Toolset()


async def load_spec(url: str, settings: Settings) -> tuple[dict[str, Any], str]:
    """Fetch and parse a spec from a URL under the outbound rules; return it and its final URL."""
    response = await fetch("GET", url, OutboundPolicy.from_settings(settings),
                           headers={"Accept": "application/json, application/yaml;q=0.9"})
    if response.status_code >= 400:
        raise OutboundError(f"HTTP {response.status_code} fetching the OpenAPI spec")
    return openapi_tools.parse_spec_text(response.text), response.url


def tools_for_spec(
    spec: dict[str, Any], spec_url: str | None, settings: Settings
) -> list[BaseTool]:
    """The tools for a parsed spec, allowed to reach only its server's origin."""
    base_url = openapi_tools.server_url(spec, spec_url)
    policy = OutboundPolicy.from_settings(settings, allowed_origins=frozenset({origin(base_url)}))
    chosen = [name.strip() for name in settings.apisearch_operations.split(",") if name.strip()]
    return openapi_tools.build_tools(spec, base_url, policy, chosen)


def _is_url(source: str) -> bool:
    return urlsplit(source).scheme.lower() in ("http", "https")


def _read_file(path: str) -> dict[str, Any]:
    return openapi_tools.parse_spec_text(Path(path).expanduser().read_text(encoding="utf-8"))
