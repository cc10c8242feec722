"""Supervisor routing: mentions decide without a model; unconfigured mentions explain."""

from __future__ import annotations

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from pydantic import Field

from agent import routing
from agent.models.offline import OfflineChatModel
from agent.specialists import Specialist


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
