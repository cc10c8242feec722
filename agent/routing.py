"""The supervisor: picks the one specialist that answers this turn.

An explicit `@docsearch` / `@sqlsearch` / `@apisearch` / `@websearch` / `@chat` mention decides
without a model call; otherwise the model chooses among the configured specialists through
structured output (its tokens are tagged `nostream`, so routing text never reaches the client).
`chat` is always among them: greetings, questions about the bot and questions no configured
specialist fits go there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.constants import TAG_NOSTREAM
from pydantic import BaseModel, Field, create_model

from agent import conversation
from agent.specialists import CHAT, SPECIALIST_NAMES, Specialist

UNAVAILABLE = "unavailable"
MAX_ROUTER_MESSAGES = 12
_MENTION = re.compile(r"(?<![\w@])@(" + "|".join(SPECIALIST_NAMES) + r")\b", re.IGNORECASE)


def mentioned_specialist(text: str) -> str | None:
    """The first `@specialist` mentioned in the text, if any."""
    match = _MENTION.search(text)
    return match.group(1).lower() if match else None


def route_schema(names: list[str]) -> type[BaseModel]:
    """A structured-output schema whose `next` field may only name the given specialists."""
    choice: Any = Literal[tuple(names)]
    return create_model(
        "RouteDecision",
        __doc__="Choose the specialist that should answer the user's latest question.",
        next=(choice, Field(description="The specialist that answers.")),
    )


def router_prompt(specialists: Mapping[str, Specialist]) -> str:
    """The supervisor's system prompt, listing the specialists it may choose."""
    lines = "\n".join(f"- {s.name}: {s.description}" for s in specialists.values())
    fallback = (" Pick a specialist with sources only when its sources can answer the "
                f"question; otherwise pick {CHAT}." if CHAT in specialists else "")
    return ("You are the supervisor of a team of specialists. Pick the one best suited to "
            "answer the user's latest question, in the context of the conversation."
            f"{fallback}\n{lines}")


def last_question(messages: Sequence[BaseMessage]) -> str:
    """The text of the latest human message."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text
    return ""


async def choose(
    model: BaseChatModel,
    specialists: Mapping[str, Specialist],
    messages: Sequence[BaseMessage],
) -> str:
    """The specialist name for this turn, or `UNAVAILABLE` for a mention of one not set up."""
    mention = mentioned_specialist(last_question(messages))
    if mention:
        configured = mention in specialists and specialists[mention].enabled
        return mention if configured else UNAVAILABLE
    enabled = {name: s for name, s in specialists.items() if s.enabled}
    if len(enabled) == 1:
        return next(iter(enabled))
    schema = route_schema(list(enabled))
    router = model.with_structured_output(schema, method="function_calling").with_config(
        tags=[TAG_NOSTREAM], run_name="route"
    )
    history = conversation.for_model(messages)[-MAX_ROUTER_MESSAGES:]
    decision = await router.ainvoke([SystemMessage(router_prompt(enabled)), *history])
    name = getattr(decision, "next", None)
    return name if isinstance(name, str) and name in enabled else next(iter(enabled))


def unavailable_answer(
    specialists: Mapping[str, Specialist], messages: Sequence[BaseMessage]
) -> str:
    """The plain answer to an `@mention` of a specialist that is not configured."""
    name = mentioned_specialist(last_question(messages)) or ""
    if name not in specialists:
        return f"There is no {name} specialist on this server."
    hint = specialists[name].enable_hint
    return f"The {name} specialist is not configured on this server. To enable it, set {hint}."
