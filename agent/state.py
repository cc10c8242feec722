"""The graph's state: the conversation plus the specialist chosen for the current turn."""

from __future__ import annotations

from langgraph.graph import MessagesState


class BotState(MessagesState):
    """Messages (appended by the `add_messages` reducer) and this turn's route."""

    route: str
