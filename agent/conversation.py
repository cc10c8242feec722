"""What a specialist sees of the thread: earlier turns' questions and answers, and this turn.

Earlier turns are reduced to the human questions and the agents' final answers, so old tool
calls (possibly to tools this specialist doesn't have, or left unanswered by a cancelled run)
never reach the model, and the prompt stays small as the thread grows.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

MAX_HISTORY_MESSAGES = 20


def for_model(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Earlier turns without tool traffic, then every message of the current turn."""
    last_human = max(
        (i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=0
    )
    history = [
        m for m in messages[:last_human]
        if isinstance(m, HumanMessage) or (isinstance(m, AIMessage) and not m.tool_calls)
    ]
    return [*history[-MAX_HISTORY_MESSAGES:], *messages[last_human:]]


def tool_rounds(messages: Sequence[BaseMessage]) -> int:
    """How many times the current turn has called tools."""
    rounds = 0
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            break
        if isinstance(message, AIMessage) and message.tool_calls:
            rounds += 1
    return rounds
