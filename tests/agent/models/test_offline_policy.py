"""The offline model's decisions: routes, tool arguments, extractive answers, plain refusals,
the chat specialist's answers, and the supervisor's first call (a tool call or a chat answer)."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from agent.models import offline_policy as policy
from agent.models.offline_arguments import plan_tool_call
from agent.models.offline_chat import read_capabilities
from agent.models.offline_routing import choose_route
from agent.specialists import CHAT, CHAT_DESCRIPTION, Specialist, chat_prompt
from agent.supervisor import build_toolbox
from agent.tools.results import SearchResult, results_json

SEARCH_TOOL = {"type": "function", "function": {
    "name": "search_documents", "description": "Search the index",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}
PRICE_TOOL = {"type": "function", "function": {
    "name": "get_price", "description": "Price of a crypto asset",
    "parameters": {"type": "object", "properties": {
        "symbol": {"type": "string", "enum": ["BTC", "ETH"]},
        "currency": {"type": "string", "enum": ["USD", "EUR"], "default": "USD"}},
        "required": ["symbol"]}}}
SQL_TOOL = {"type": "function", "function": {
    "name": "sql_query", "description": "Run one read-only SQL SELECT",
    "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                   "required": ["query"]}}}


def test_routes_by_keywords_and_defaults_to_docsearch() -> None:
    choices = ["docsearch", "sqlsearch", "apisearch", "websearch"]
    assert choose_route("Which state had the most COVID deaths?", choices) == "sqlsearch"
    assert choose_route("what is the price of ethereum", choices) == "apisearch"
    assert choose_route("latest news on the election", choices) == "websearch"
    assert choose_route("hello there", choices) == "docsearch"
    assert choose_route("hello there", ["apisearch", "websearch"]) == "apisearch"


def test_fills_query_and_enum_arguments_from_the_question() -> None:
    call = plan_tool_call([SEARCH_TOOL], "@docsearch, how do threads work?")
    assert call is not None and call.tool_calls[0]["args"] == {"query": "how do threads work?"}
    call = plan_tool_call([SEARCH_TOOL, PRICE_TOOL], "price of ETH in EUR today")
    assert call is not None
    assert call.tool_calls[0]["name"] == "get_price"
    assert call.tool_calls[0]["args"] == {"symbol": "ETH", "currency": "EUR"}


def test_does_not_pretend_to_write_sql() -> None:
    list_tables = {"type": "function", "function": {"name": "sql_list_tables", "parameters": {}}}
    reply = policy.respond([HumanMessage("@sqlsearch most deaths in 2020?")],
                           [list_tables, SQL_TOOL], None)
    assert not reply.tool_calls
    assert "writes SQL" in reply.text and "MODEL_PROVIDER=azure" in reply.text


def _turn(result_text: str, status: str = "success") -> list:
    call = {"name": "search_documents", "args": {"query": "q"}, "id": "c1", "type": "tool_call"}
    return [HumanMessage("how far is the Moon?"), AIMessage("", tool_calls=[call]),
            ToolMessage(result_text, tool_call_id="c1", name="search_documents", status=status)]


def test_answers_extractively_with_numbered_citations() -> None:
    results = [SearchResult(title="Moon", source="docs/moon.md",
                            content="The Moon orbits Earth. Its distance is 384,400 km on "
                                    "average.\n\nUnrelated words about cheese and crackers."),
               SearchResult(title="Tides", source="docs/tides.md",
                            content="The Moon raises the tides on Earth twice daily.")]
    answer = policy.respond(_turn(results_json(results)), [SEARCH_TOOL], None).text
    assert "384,400 km" in answer and "[[1]](docs/moon.md)" in answer
    assert "[[2]](docs/tides.md)" in answer
    assert "cheese" not in answer


def test_says_so_when_nothing_was_found_or_the_tool_failed() -> None:
    nothing = policy.respond(_turn(results_json([])), [SEARCH_TOOL], None).text
    assert "found nothing relevant" in nothing
    failed = policy.respond(_turn("Error: ToolException: boom", "error"), [SEARCH_TOOL], None)
    assert "failed" in failed.text and "boom" in failed.text


def test_structured_output_call_picks_an_allowed_route() -> None:
    schema = {"type": "function", "function": {"name": "RouteDecision", "parameters": {
        "type": "object", "properties": {"next": {"enum": ["docsearch", "sqlsearch"]}}}}}
    reply = policy.respond([HumanMessage("covid deaths by state")], [schema], "any")
    assert reply.tool_calls[0]["args"] == {"next": "sqlsearch"}


def test_without_tools_it_explains_what_enables_a_real_model() -> None:
    reply = policy.respond([HumanMessage("write me a poem")], [], None)
    assert "MODEL_PROVIDER" in reply.text


ALL = ["docsearch", "sqlsearch", "apisearch", "websearch", "chat"]


def test_chat_gets_greetings_and_questions_no_offered_specialist_fits() -> None:
    default = ["docsearch", "sqlsearch", "chat"]  # apisearch and websearch not configured
    assert choose_route("hello, who are you?", default) == "chat"
    assert choose_route("Thanks a lot!", default) == "chat"
    assert choose_route("What can you do?", default) == "chat"
    assert choose_route("What is the price of bitcoin?", default) == "chat"
    assert choose_route("What is the price of bitcoin?", ALL) == "apisearch"
    # "api" is a docsearch keyword too, but apisearch (not configured) fits better.
    assert choose_route("bitcoin price from the exchange api?", default) == "chat"
    assert choose_route("what is the meaning of life?", default) == "chat"
    assert choose_route("hi, how do I deploy it?", default) == "docsearch"
    assert choose_route("covid deaths per state", default) == "sqlsearch"


@tool
def noop(query: str) -> str:
    """Do nothing."""
    return query


def _chat_prompt() -> str:
    return chat_prompt([
        Specialist("docsearch", "Searches the document index.", "p", (noop,),
                   "DOCS_DIR (local folder) or AZURE_SEARCH_ENDPOINT"),
        Specialist("sqlsearch", "Answers questions about COVID data.", "p", (noop,),
                   "SQL_DATABASE_URL"),
        Specialist("apisearch", "Calls a REST API for live data (prices, rates).", "p", (),
                   "APISEARCH_OPENAPI_SPEC"),
        Specialist("websearch", "Searches the public web — news too.", "p", (),
                   "WEBSEARCH_PROVIDER (searxng, tavily or brave)"),
    ])


def test_reads_the_specialists_from_the_chat_prompt() -> None:
    caps = read_capabilities([SystemMessage(_chat_prompt()), HumanMessage("hi")])
    assert [(c.name, c.available, c.enable_hint) for c in caps] == [
        ("docsearch", True, ""), ("sqlsearch", True, ""),
        ("apisearch", False, "APISEARCH_OPENAPI_SPEC"),
        ("websearch", False, "WEBSEARCH_PROVIDER (searxng, tavily or brave)")]
    assert caps[3].about == "searches the public web — news too"
    assert read_capabilities([SystemMessage("You are docsearch."), HumanMessage("hi")]) == []


def _chat(question: str) -> str:
    reply = policy.respond([SystemMessage(_chat_prompt()), HumanMessage(question)], None, None)
    assert not reply.tool_calls and "[[" not in reply.text, "chat never calls tools or cites"
    return reply.text


def test_offline_chat_greets_with_what_the_bot_can_do() -> None:
    answer = _chat("hello, who are you?")
    assert answer.startswith("Hello!")
    assert "- @docsearch: searches the document index." in answer
    assert "- @sqlsearch: answers questions about COVID data." in answer
    assert "@apisearch (set APISEARCH_OPENAPI_SPEC)" in answer
    assert "MODEL_PROVIDER=azure" in answer
    assert not _chat("what can you do?").startswith("Hello!")
    assert _chat("thank you!").startswith("You're welcome")


def test_offline_chat_says_which_specialist_or_setting_would_help() -> None:
    bitcoin = _chat("What is the price of bitcoin?")
    assert "@apisearch" in bitcoin and "not configured" in bitcoin
    assert "set APISEARCH_OPENAPI_SPEC" in bitcoin
    covid = _chat("@chat how many covid deaths were there?")
    assert "question for @sqlsearch" in covid and "starting with @sqlsearch" in covid
    unknown = _chat("what is the meaning of life?")
    assert "no general knowledge" in unknown and "@docsearch, @sqlsearch" in unknown


@tool
def search_documents(query: str) -> str:
    """Search the document index."""
    return query


@tool
def sql_query(query: str) -> str:
    """Run one read-only SQL SELECT."""
    return query


def _first_call(question: str) -> AIMessage:
    specialists = {
        "docsearch": Specialist("docsearch", "Searches the document index.", "p",
                                (search_documents,), "DOCS_DIR"),
        "sqlsearch": Specialist("sqlsearch", "Answers questions about COVID data.", "p",
                                (sql_query,), "SQL_DATABASE_URL"),
        "apisearch": Specialist("apisearch", "Calls a REST API for live data (prices).", "p",
                                (), "APISEARCH_OPENAPI_SPEC"),
    }
    specialists[CHAT] = Specialist(CHAT, CHAT_DESCRIPTION, chat_prompt(specialists.values()),
                                   uses_tools=False)
    box = build_toolbox(specialists)
    return policy.respond([SystemMessage(box.prompt), HumanMessage(question)],
                          [SEARCH_TOOL, SQL_TOOL], None)


def test_the_first_call_calls_the_routed_specialists_tool_or_answers_as_chat() -> None:
    docs = _first_call("how do I deploy it?")
    assert docs.tool_calls[0]["name"] == "search_documents"
    assert docs.tool_calls[0]["args"] == {"query": "how do I deploy it?"}
    hello = _first_call("hello, who are you?")
    assert not hello.tool_calls and hello.text.startswith("Hello!")
    bitcoin = _first_call("What is the price of bitcoin?")
    assert not bitcoin.tool_calls and "set APISEARCH_OPENAPI_SPEC" in bitcoin.text
    sql = _first_call("which state had the most covid deaths?")
    assert not sql.tool_calls and "@sqlsearch" in sql.text and "writes SQL" in sql.text
