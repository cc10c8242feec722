"""The offline chat model streams tokens that rebuild its answer and makes real tool calls."""

from __future__ import annotations

from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.tools import tool

from agent.models.offline import OfflineChatModel, tokens


def test_tokens_concatenate_back_exactly() -> None:
    text = "  Leading spaces,\n\nnew lines\tand émoji 🚀 [[1]](a.md)  "
    parts = tokens(text)
    assert "".join(parts) == text and len(parts) > 5


@tool
def search_documents(query: str) -> str:
    """Search the documents."""
    return query


async def test_streams_a_tool_call_then_an_answer() -> None:
    model = OfflineChatModel().bind_tools([search_documents])
    chunks = [c async for c in model.astream([HumanMessage("@docsearch where is the Moon?")])]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert isinstance(merged, AIMessageChunk)
    assert merged.tool_calls[0]["name"] == "search_documents"
    assert merged.tool_calls[0]["args"] == {"query": "where is the Moon?"}


def test_invoke_without_tools_is_plain_text() -> None:
    reply = OfflineChatModel().invoke([HumanMessage("hello")])
    assert isinstance(reply.content, str) and "MODEL_PROVIDER" in reply.content
