"""The graph's state: the conversation plus the specialist chosen for the current turn.

The conversation is a `DeltaChannel` (LangGraph): a checkpoint stores only the messages a turn
added, as pending writes, and reading replays them onto the nearest snapshot. So saving a turn
writes that turn's messages, not the whole conversation again, and the thread store grows with
the conversation, not with its square (docs/memory-cosmos.md, "Thread size").
"""

from __future__ import annotations

from typing import Annotated

from langchain_core.messages import AnyMessage
from langgraph.channels import DeltaChannel
from langgraph.graph.message import _messages_delta_reducer
from typing_extensions import TypedDict

# A snapshot of the whole conversation is written after this many steps that added messages
# (about four per turn). It is set to LangGraph's own bound on the steps between snapshots
# (DELTA_MAX_SUPERSTEPS_SINCE_SNAPSHOT, 5000), so threads of up to about a thousand turns never
# rewrite their history: each turn writes only what it added.
MESSAGES_SNAPSHOT_EVERY = 5000

Messages = Annotated[
    list[AnyMessage],
    DeltaChannel(_messages_delta_reducer, snapshot_frequency=MESSAGES_SNAPSHOT_EVERY),
]


class BotState(TypedDict):
    """Messages (added by the delta reducer: append, or replace by id) and this turn's route."""

    messages: Messages
    route: str
