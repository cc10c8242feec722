"""What the API says about itself: its title, description and version (in the OpenAPI
document, `/health` and the dev server's banner)."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

TITLE = "Smart bot API"
DESCRIPTION = (
    "A LangGraph multi-agent chat bot: a supervisor routes each question (or an explicit "
    "`@docsearch`, `@sqlsearch`, `@apisearch`, `@websearch` or `@chat` mention) to a specialist "
    "that answers from its tools, with citations. `/stream` streams the answer as Server-Sent "
    "Events."
)


@cache
def app_version() -> str:
    """The installed version of this app, if packaged; else the source version."""
    try:
        return version("smartbot-functions")
    except PackageNotFoundError:
        return "0.1.0"
