"""Builds every specialist from the settings: which tools each gets, and its prompt.

`chat` comes last: its prompt lists the other specialists and whether each is configured, so
it can say what the bot can do here and which setting enables what is missing.
"""

from __future__ import annotations

from agent.settings import Settings
from agent.specialists import ANSWER_RULES, CHAT, CHAT_DESCRIPTION, Specialist, chat_prompt


def build_specialists(settings: Settings) -> dict[str, Specialist]:
    """Every specialist, in routing order; unconfigured ones have no tools."""
    from agent.tools import apisearch, docsearch, sqlsearch, websearch

    specialists = {
        "docsearch": Specialist(
            name="docsearch",
            description="Searches the document index (product and project documentation, "
            "knowledge-base articles) and answers with citations.",
            prompt="You are docsearch, a research assistant for the document index. Search the "
            "index (rephrase and search again if the first results miss) and answer. "
            + ANSWER_RULES,
            tools=tuple(docsearch.build_tools(settings)),
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
            tools=tuple(sqlsearch.build_tools(settings)),
            enable_hint="SQL_DATABASE_URL",
        ),
        "apisearch": Specialist(
            name="apisearch",
            description="Calls a REST API described by an OpenAPI spec for live data "
            "(for example prices or rates).",
            prompt="You are apisearch. Call the API operations available to you with the right "
            "parameters and answer from their responses. " + ANSWER_RULES,
            tools=tuple(apisearch.build_tools(settings)),
            enable_hint="APISEARCH_OPENAPI_SPEC",
        ),
        "websearch": Specialist(
            name="websearch",
            description="Searches the public web for general knowledge and current events.",
            prompt="You are websearch. Search the web, fetch a page when the snippets are not "
            "enough, and answer. " + ANSWER_RULES,
            tools=tuple(websearch.build_tools(settings)),
            enable_hint="WEBSEARCH_PROVIDER and WEBSEARCH_ENDPOINT / WEBSEARCH_API_KEY",
        ),
    }
    specialists[CHAT] = Specialist(
        name=CHAT, description=CHAT_DESCRIPTION, prompt=chat_prompt(specialists.values()),
        uses_tools=False,
    )
    return specialists
