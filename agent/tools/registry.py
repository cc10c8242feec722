"""Builds every specialist from the settings: which tools each gets, its prompt, and what the
bot must close when it closes.

`chat` comes last: its prompt lists the other specialists and whether each is configured, so
it can say what the bot can do here and which setting enables what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.settings import Settings
from agent.specialists import ANSWER_RULES, CHAT, CHAT_DESCRIPTION, Specialist, chat_prompt
from agent.tools.toolset import Closer


@dataclass(frozen=True)
class Specialists:
    """Every specialist by name, in routing order, and the closers of their tools' resources
    (in the order built; close them in reverse)."""

    by_name: dict[str, Specialist]
    closers: tuple[Closer, ...]


def build_specialists(settings: Settings) -> Specialists:
    """Every specialist, in routing order; unconfigured ones have no tools."""
    from agent.tools import apisearch, docsearch, sqlsearch, websearch

    docs = docsearch.build_tools(settings)
    sql = sqlsearch.build_tools(settings)
    api = apisearch.build_tools(settings)
    web = websearch.build_tools(settings)
    specialists = {
        "docsearch": Specialist(
            name="docsearch",
            description="Searches the document index (product and project documentation, "
            "knowledge-base articles) and answers with citations.",
            prompt="You are docsearch, a research assistant for the document index. Search the "
            "index (rephrase and search again if the first results miss) and answer. "
            + ANSWER_RULES,
            tools=docs.tools,
            enable_hint="DOCS_DIR (local folder) or AZURE_SEARCH_ENDPOINT and "
            "AZURE_SEARCH_INDEXES (Azure AI Search)",
        ),
        "sqlsearch": Specialist(
            name="sqlsearch",
            description="Answers questions about data in the SQL database (by default the "
            "COVID Tracking Project daily history per US state, 2020-2021) by writing and "
            "running read-only SQL.",
            prompt="You are sqlsearch, a data analyst. Look at the tables and their columns, "
            "write one read-only SELECT that answers the question, run it, and answer from the "
            "rows. Explain briefly which query you ran. " + ANSWER_RULES,
            tools=sql.tools,
            enable_hint="SQL_DATABASE_URL",
        ),
        "apisearch": Specialist(
            name="apisearch",
            description="Calls a REST API described by an OpenAPI spec for live data "
            "(for example prices or rates).",
            prompt="You are apisearch. Call the API operations available to you with the right "
            "parameters and answer from their responses. " + ANSWER_RULES,
            tools=api.tools,
            enable_hint="APISEARCH_OPENAPI_SPEC",
        ),
        "websearch": Specialist(
            name="websearch",
            description="Searches the public web for general knowledge and current events.",
            prompt="You are websearch. Search the web, fetch a page when the snippets are not "
            "enough, and answer. " + ANSWER_RULES,
            tools=web.tools,
            enable_hint="WEBSEARCH_PROVIDER and WEBSEARCH_ENDPOINT / WEBSEARCH_API_KEY",
        ),
    }
    specialists[CHAT] = Specialist(
        name=CHAT, description=CHAT_DESCRIPTION, prompt=chat_prompt(specialists.values()),
        uses_tools=False,
    )
    closers = tuple(close for toolset in (docs, sql, api, web) for close in toolset.closers)
    return Specialists(by_name=specialists, closers=closers)
