"""The supervisor's first call: which tools it declares (every enabled specialist's, within
Azure OpenAI's 128, names unambiguous), and what a reply decides (the first called tool's
specialist; other specialists' calls dropped; a hand-off; a call of no known tool)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import BaseTool, StructuredTool
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

from agent.graph import build_graph
from agent.models.offline import OfflineChatModel
from agent.specialists import CHAT, CHAT_DESCRIPTION, Specialist, chat_prompt
from agent.supervisor import MAX_TOOLS, build_toolbox, decide


def _tools(*names: str) -> tuple[BaseTool, ...]:
    def run(query: str) -> str:
        return query

    return tuple(StructuredTool.from_function(run, name=name, description=f"The {name} tool.")
                 for name in names)


def _specialists(**tools: tuple[BaseTool, ...]) -> dict[str, Specialist]:
    out = {name: Specialist(name, f"{name} things.", f"You are {name}.", t, f"{name.upper()}_X")
           for name, t in tools.items()}
    out[CHAT] = Specialist(CHAT, CHAT_DESCRIPTION, chat_prompt(out.values()), uses_tools=False)
    return out


def _names(tools: tuple[Any, ...]) -> list[str]:
    return [t.name if isinstance(t, BaseTool) else t["function"]["name"] for t in tools]


def test_every_enabled_specialists_tools_in_order_and_byte_identical_each_build() -> None:
    specialists = _specialists(docsearch=_tools("search_documents"),
                               sqlsearch=_tools("sql_list_tables", "sql_query"),
                               apisearch=())  # not configured: not declared
    box = build_toolbox(specialists)
    assert _names(box.tools) == ["search_documents", "sql_list_tables", "sql_query"]
    assert box.owner == {"search_documents": "docsearch", "sql_list_tables": "sqlsearch",
                         "sql_query": "sqlsearch"} and box.handoffs == {}
    assert "- @sqlsearch tools: sql_list_tables, sql_query" in box.prompt
    assert "- @apisearch — not configured (enable with APISEARCH_X)" in box.prompt
    again = build_toolbox(specialists)  # nothing that varies by turn, thread or time
    assert again.prompt == box.prompt and _names(again.tools) == _names(box.tools)


def test_past_128_tools_the_largest_specialist_is_handed_off() -> None:
    api = _tools(*(f"op_{n}" for n in range(MAX_TOOLS)))
    box = build_toolbox(_specialists(docsearch=_tools("search_documents"), apisearch=api,
                                     websearch=_tools("web_search", "fetch_page")))
    assert _names(box.tools) == ["search_documents", "transfer_to_apisearch", "web_search",
                                 "fetch_page"]
    assert box.handoffs == {"transfer_to_apisearch": "apisearch"}
    assert "- @apisearch tools: transfer_to_apisearch" in box.prompt
    # 127 + 1 fit exactly: nothing handed off
    fits = build_toolbox(_specialists(docsearch=_tools("search_documents"),
                                      apisearch=api[:MAX_TOOLS - 1]))
    assert len(fits.tools) == MAX_TOOLS and fits.handoffs == {}


def test_a_specialist_whose_tool_names_clash_is_handed_off() -> None:
    box = build_toolbox(_specialists(docsearch=_tools("search_documents"),
                                     apisearch=_tools("getPrice", "search_documents")))
    assert _names(box.tools) == ["search_documents", "transfer_to_apisearch"]
    assert box.owner == {"search_documents": "docsearch"}


def _call(name: str, call_id: str) -> dict[str, Any]:
    return {"name": name, "args": {"query": "q"}, "id": call_id, "type": "tool_call"}


BOX = build_toolbox(_specialists(docsearch=_tools("search_documents"),
                                 sqlsearch=_tools("sql_query"),
                                 apisearch=_tools(*(f"op_{n}" for n in range(MAX_TOOLS)))))


def test_the_first_called_tool_selects_its_specialist_and_other_calls_are_dropped() -> None:
    reply = AIMessage("Let me look.", tool_calls=[
        _call("sql_query", "c1"), _call("search_documents", "c2"), _call("sql_query", "c3")])
    decision = decide(reply, BOX)
    assert decision is not None and decision.route == "sqlsearch"
    assert decision.message is not None and decision.message.name == "sqlsearch"
    assert [c["id"] for c in decision.message.tool_calls] == ["c1", "c3"]
    assert decision.message.text == "Let me look."  # the preamble stays with its specialist


def test_text_alone_is_the_chat_answer_and_a_hand_off_stores_nothing() -> None:
    decision = decide(AIMessage("Hello!"), BOX)
    assert decision is not None and decision.route == CHAT
    assert decision.message is not None and decision.message.name == CHAT
    decision = decide(AIMessage("", tool_calls=[_call("transfer_to_apisearch", "c1"),
                                                _call("search_documents", "c2")]), BOX)
    assert decision is not None and decision.route == "apisearch" and decision.message is None
    assert decide(AIMessage("", tool_calls=[_call("made_up", "c1")]), BOX) is None


class Scripted(OfflineChatModel):
    """Replies with a tool nobody declared to the first call, then plays the offline model."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def _reply(self, messages, **kwargs):  # type: ignore[no-untyped-def]
        self.seen.append(list(messages))
        if len(self.seen) == 1:
            return AIMessage("", tool_calls=[_call("made_up", "c1")])
        return super()._reply(messages, **kwargs)


async def test_a_call_of_no_known_tool_falls_back_to_the_routing_call() -> None:
    model = Scripted()
    specialists = _specialists(docsearch=_tools("search_documents"),
                               sqlsearch=_tools("sql_query"))
    graph = build_graph(model, specialists, InMemorySaver())
    state = await graph.ainvoke({"messages": [HumanMessage("covid deaths per state")]},
                                {"configurable": {"thread_id": "t"}})
    assert state["route"] == "sqlsearch"
    assert [m.type for m in state["messages"]][:1] == ["human"]
    assert all("made_up" not in str(m) for m in state["messages"]), "the reply is not stored"
    assert len(model.seen) >= 3  # the first call, the routing call, sqlsearch's own call
