"""Who answers a turn: a forced route or an @mention decides without a model call, an
unconfigured one explains; otherwise the supervisor's first call sees every enabled
specialist's tools and either calls one (its specialist answers from the results) or answers
as `chat`. Also the seed design's structured routing call (`routing.choose`), which the
benchmark's baseline and the fallback use."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

from agent import routing
from agent.graph import build_graph
from agent.models.offline import OfflineChatModel
from agent.specialists import CHAT, CHAT_DESCRIPTION, Specialist, chat_prompt


@tool
def noop(query: str) -> str:
    """Do nothing."""
    return query


@tool
def noop_sql(query: str) -> str:
    """Do nothing."""
    return query


SPECIALISTS = {
    "docsearch": Specialist("docsearch", "documents", "p", (noop,), "DOCS_DIR"),
    "sqlsearch": Specialist("sqlsearch", "SQL: covid deaths", "p", (noop_sql,),
                            "SQL_DATABASE_URL"),
    "apisearch": Specialist("apisearch", "APIs", "p", (), "APISEARCH_OPENAPI_SPEC"),
    "websearch": Specialist("websearch", "web", "p", (), "WEBSEARCH_PROVIDER"),
}


def test_mentions_are_found_anywhere_but_not_in_emails() -> None:
    assert routing.mentioned_specialist("@apisearch, price of ETH?") == "apisearch"
    assert routing.mentioned_specialist("please ask @SQLSearch: deaths?") == "sqlsearch"
    assert routing.mentioned_specialist("mail bob@docsearch.com") is None
    assert routing.mentioned_specialist("no mention") is None


class CountingModel(OfflineChatModel):
    calls: int = 0
    seen: list[BaseMessage] = Field(default_factory=list)

    def _reply(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        self.seen = list(messages)
        return super()._reply(messages, **kwargs)


async def test_a_mention_routes_without_a_model_call() -> None:
    model = CountingModel()
    route = await routing.choose(model, SPECIALISTS, [HumanMessage("@sqlsearch deaths?")])
    assert route == "sqlsearch" and model.calls == 0


async def test_unconfigured_mention_is_unavailable_with_the_setting_named() -> None:
    messages = [HumanMessage("@websearch news?")]
    assert await routing.choose(CountingModel(), SPECIALISTS, messages) == routing.UNAVAILABLE
    answer = routing.unavailable_answer(SPECIALISTS, messages)
    assert "websearch" in answer and "WEBSEARCH_PROVIDER" in answer


async def test_without_a_mention_the_model_chooses_among_enabled_ones() -> None:
    model = CountingModel()
    route = await routing.choose(model, SPECIALISTS, [HumanMessage("covid deaths in Texas")])
    assert route == "sqlsearch" and model.calls == 1
    schema = routing.route_schema(["docsearch", "sqlsearch"]).model_json_schema()
    assert schema["properties"]["next"]["enum"] == ["docsearch", "sqlsearch"]


async def test_the_router_never_sees_a_cancelled_turns_dangling_tool_call() -> None:
    call = {"name": "noop", "args": {"query": "x"}, "id": "c1", "type": "tool_call"}
    messages = [HumanMessage("first"), AIMessage("", tool_calls=[call]),  # cancelled mid-tool
                HumanMessage("covid deaths in Texas")]
    model = CountingModel()
    assert await routing.choose(model, SPECIALISTS, messages) == "sqlsearch"
    assert [m.type for m in model.seen] == ["system", "human", "human"]


def _with_chat(specialists: dict[str, Specialist]) -> dict[str, Specialist]:
    chat = Specialist(CHAT, CHAT_DESCRIPTION, chat_prompt(specialists.values()), uses_tools=False)
    return {**specialists, CHAT: chat}


async def test_chat_is_offered_to_the_router_and_selected_by_mention() -> None:
    specialists = _with_chat(SPECIALISTS)
    model = CountingModel()
    assert await routing.choose(model, specialists, [HumanMessage("@chat covid?")]) == CHAT
    assert model.calls == 0
    assert await routing.choose(model, specialists, [HumanMessage("hello!")]) == CHAT
    system = model.seen[0].text
    assert "- chat: General conversation" in system and "otherwise pick chat" in system
    assert "apisearch" not in system, "unconfigured specialists are not offered"
    assert await routing.choose(model, SPECIALISTS, [HumanMessage("hello!")]) == "docsearch"


class RecordingModel(OfflineChatModel):
    """The offline model, recording what each call was given."""

    calls: list[tuple[list[BaseMessage], dict[str, Any]]] = Field(default_factory=list)

    def _reply(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append((list(messages), kwargs))
        return super()._reply(messages, **kwargs)


async def _ask(specialists: dict[str, Specialist], question: str,
               model: RecordingModel | None = None) -> dict[str, Any]:
    graph = build_graph(model or RecordingModel(), specialists, InMemorySaver())
    state: dict[str, Any] = await graph.ainvoke(
        {"messages": [HumanMessage(question)]}, {"configurable": {"thread_id": "t"}})
    return state


def _tool_names(kwargs: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in kwargs.get("tools") or []]


async def test_a_greeting_is_answered_by_the_first_call_as_chat() -> None:
    model = RecordingModel()
    specialists = _with_chat(SPECIALISTS)
    state = await _ask(specialists, "hello, who are you?", model)
    answer = state["messages"][-1]
    assert state["route"] == CHAT and answer.name == CHAT
    assert "@docsearch" in answer.text and "@sqlsearch" in answer.text
    assert "@websearch (set WEBSEARCH_PROVIDER)" in answer.text
    assert [m.type for m in state["messages"]] == ["human", "ai"], "no tool was called"
    [(messages, kwargs)] = model.calls  # one model call: it decided and answered
    assert _tool_names(kwargs) == ["noop", "noop_sql"], "every enabled specialist's tools"
    assert kwargs.get("tool_choice") is None  # the model may answer
    system = messages[0].text
    assert "- @docsearch tools: noop" in system and "- @sqlsearch tools: noop_sql" in system
    assert "never cite" in system and "- @apisearch — not configured" in system


async def test_the_chat_node_answers_a_mention_without_tools() -> None:
    model = RecordingModel()
    state = await _ask(_with_chat(SPECIALISTS), "@chat hello, who are you?", model)
    assert state["route"] == CHAT and state["messages"][-1].name == CHAT
    [(messages, kwargs)] = model.calls
    assert not kwargs.get("tools"), "the chat node binds no tools"
    assert messages[0].text == _with_chat(SPECIALISTS)[CHAT].prompt


async def test_a_question_for_an_unconfigured_specialist_names_its_setting() -> None:
    model = RecordingModel()
    state = await _ask(_with_chat(SPECIALISTS), "What is the price of bitcoin?", model)
    answer = state["messages"][-1]
    assert state["route"] == CHAT and len(model.calls) == 1
    assert "@apisearch" in answer.text and "APISEARCH_OPENAPI_SPEC" in answer.text
    assert "[[" not in answer.text and len(state["messages"]) == 2


@tool
def noop_api(query: str) -> str:
    """Look up a price."""
    return query


async def test_a_tool_call_in_the_first_call_selects_its_specialist_which_answers() -> None:
    specialists = _with_chat({**SPECIALISTS, "apisearch": Specialist(
        "apisearch", "APIs", "You are apisearch.", (noop_api,), "APISEARCH_OPENAPI_SPEC")})
    model = RecordingModel()
    state = await _ask(specialists, "What is the price of bitcoin?", model)
    assert state["route"] == "apisearch"
    _, calling, result, answer = state["messages"]
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai"]
    assert calling.name == answer.name == "apisearch"
    assert calling.tool_calls[0]["name"] == "noop_api" and result.tool_call_id
    (_, first), (answer_messages, second) = model.calls  # two calls before the answer
    assert _tool_names(first) == ["noop", "noop_sql", "noop_api"]
    assert _tool_names(second) == ["noop_api"], "the specialist answers with its own tools"
    assert answer_messages[0].text == "You are apisearch."


async def test_a_forced_route_decides_like_a_mention() -> None:
    model = RecordingModel()
    graph = build_graph(model, _with_chat(SPECIALISTS), InMemorySaver())
    run = {"configurable": {"thread_id": "forced", "specialist": "docsearch"}}
    state = await graph.ainvoke({"messages": [HumanMessage("hello there")]}, run)
    assert state["route"] == "docsearch" and state["messages"][-1].name == "docsearch"
    assert _tool_names(model.calls[0][1]) == ["noop"], "no decision call: docsearch's own"
    run = {"configurable": {"thread_id": "forced-2", "specialist": "websearch"}}
    state = await graph.ainvoke({"messages": [HumanMessage("hello there")]}, run)
    assert state["route"] == routing.UNAVAILABLE
    assert "WEBSEARCH_PROVIDER" in state["messages"][-1].text and len(model.calls) == 2


async def test_decisions_get_the_decision_options_and_answers_do_not() -> None:
    model = RecordingModel()
    graph = build_graph(model, _with_chat(SPECIALISTS), InMemorySaver(),
                        decision_options={"reasoning_effort": "minimal"})
    for n, question in enumerate(("@docsearch how do threads work?", "hello!",
                                  "how do I configure the docs index?")):
        await graph.ainvoke({"messages": [HumanMessage(question)]},
                            {"configurable": {"thread_id": f"effort-{n}"}})
    efforts = [(len(_tool_names(k)), k.get("reasoning_effort")) for _, k in model.calls]
    assert efforts == [
        (1, "minimal"), (1, None),  # @docsearch: its first call decides, then it answers
        (2, "minimal"),  # the greeting: the first call answers as chat
        (2, "minimal"), (1, None),  # routed: the first call calls docsearch's tool
    ]
