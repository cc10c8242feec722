"""What the model sees of a thread: earlier turns without tool traffic, the current turn whole."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent.conversation import for_model, tool_rounds

CALL = {"name": "t", "args": {}, "id": "c1", "type": "tool_call"}


def test_old_tool_traffic_is_dropped_and_the_current_turn_kept() -> None:
    messages = [
        HumanMessage("q1"), AIMessage("", tool_calls=[CALL]),
        ToolMessage("r1", tool_call_id="c1"), AIMessage("a1"),
        HumanMessage("q2 (cancelled)"), AIMessage("", tool_calls=[CALL]),
        HumanMessage("q3"), AIMessage("", tool_calls=[CALL]), ToolMessage("r3", tool_call_id="c1"),
    ]
    seen = for_model(messages)
    assert [m.text for m in seen] == ["q1", "a1", "q2 (cancelled)", "q3", "", "r3"]
    assert tool_rounds(messages) == 1
