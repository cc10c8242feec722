"""Supervisor routing: mentions decide without a model; unconfigured mentions explain; `chat`
takes greetings and questions no configured specialist fits, and answers without tools."""

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


SPECIALISTS = {
    "docsearch": Specialist("docsearch", "documents", "p", (noop,), "DOCS_DIR"),
    "sqlsearch": Specialist("sqlsearch", "SQL: covid deaths", "p", (noop,), "SQL_DATABASE_URL"),
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


async def test_a_greeting_gets_a_capability_summary_from_the_chat_node() -> None:
    model = RecordingModel()
    state = await _ask(_with_chat(SPECIALISTS), "hello, who are you?", model)
    answer = state["messages"][-1]
    assert state["route"] == CHAT and answer.name == CHAT
    assert "@docsearch" in answer.text and "@sqlsearch" in answer.text
    assert "@websearch (set WEBSEARCH_PROVIDER)" in answer.text
    assert [m.type for m in state["messages"]] == ["human", "ai"], "no tool was called"
    (_, route_kwargs), (chat_messages, chat_kwargs) = model.calls
    assert route_kwargs["tool_choice"] not in (None, "auto")  # the structured routing call
    assert not chat_kwargs.get("tools"), "the chat node binds no tools"
    assert chat_messages[0].text == _with_chat(SPECIALISTS)[CHAT].prompt


async def test_a_question_for_an_unconfigured_specialist_names_its_setting() -> None:
    state = await _ask(_with_chat(SPECIALISTS), "What is the price of bitcoin?")
    answer = state["messages"][-1]
    assert state["route"] == CHAT
    assert "@apisearch" in answer.text and "APISEARCH_OPENAPI_SPEC" in answer.text
    assert "[[" not in answer.text and len(state["messages"]) == 2


async def test_a_question_a_configured_specialist_fits_still_goes_to_it() -> None:
    specialists = _with_chat({**SPECIALISTS, "apisearch": Specialist(
        "apisearch", "APIs", "p", (noop,), "APISEARCH_OPENAPI_SPEC")})
    state = await _ask(specialists, "What is the price of bitcoin?")
    assert state["route"] == "apisearch"
    assert [m.type for m in state["messages"]] == ["human", "ai", "tool", "ai"]
