"""Who answers a turn when no model call decides it, and the seed design's routing call.

A specialist forced by the run (`configurable["specialist"]`, which the OpenAI-compatible and
MCP protocols set) or an explicit `@docsearch` / `@sqlsearch` / `@apisearch` / `@websearch` /
`@chat` mention decides without a model call; a mention of one that is not configured gets the
plain `unavailable` answer. Otherwise the supervisor's first call decides and acts
(`agent.supervisor`). `choose` is the seed design's decision, kept for the benchmark's baseline
and as the fallback when a first call names no known tool: the model picks among the
configured specialists through structured output (tagged `nostream`, so routing text never
reaches the client), `chat` always among them.
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
from agent.turns import SPECIALIST_KEY

UNAVAILABLE = "unavailable"
MAX_ROUTER_MESSAGES = 12
_MENTION = re.compile(r"(?<![\w@])@(" + "|".join(SPECIALIST_NAMES) + r")\b", re.IGNORECASE)


def mentioned_specialist(text: str) -> str | None:
    """The first `@specialist` mentioned in the text, if any."""
    match = _MENTION.search(text)
    return match.group(1).lower() if match else None


def requested_specialist(messages: Sequence[BaseMessage],
                         configurable: Mapping[str, Any] | None = None) -> str | None:
    """The specialist the run forces or the question mentions, if any."""
    forced = (configurable or {}).get(SPECIALIST_KEY)
    if isinstance(forced, str) and forced.strip():
        return forced.strip().lower()
    return mentioned_specialist(last_question(messages))


def configured_route(name: str, specialists: Mapping[str, Specialist]) -> str:
    """A requested specialist as the route: itself if configured, else `UNAVAILABLE`."""
    return name if name in specialists and specialists[name].enabled else UNAVAILABLE


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
    **options: Any,
) -> str:
    """The specialist name for this turn, or `UNAVAILABLE` for a mention of one not set up.
    `options`: request options of the routing call (a reasoning effort)."""
    mention = mentioned_specialist(last_question(messages))
    if mention:
        return configured_route(mention, specialists)
    enabled = {name: s for name, s in specialists.items() if s.enabled}
    if len(enabled) == 1:
        return next(iter(enabled))
    schema = route_schema(list(enabled))
    router = model.with_structured_output(
        schema, method="function_calling", **options
    ).with_config(tags=[TAG_NOSTREAM], run_name="route")
    history = conversation.for_model(messages)[-MAX_ROUTER_MESSAGES:]
    decision = await router.ainvoke([SystemMessage(router_prompt(enabled)), *history])
    name = getattr(decision, "next", None)
    return name if isinstance(name, str) and name in enabled else next(iter(enabled))


def unavailable_answer(
    specialists: Mapping[str, Specialist], messages: Sequence[BaseMessage],
    configurable: Mapping[str, Any] | None = None,
) -> str:
    """The plain answer to an `@mention` (or a forced route) of a specialist that is not
    configured."""
    name = requested_specialist(messages, configurable) or ""
    if name not in specialists:
        return f"There is no {name} specialist on this server."
    hint = specialists[name].enable_hint
    return f"The {name} specialist is not configured on this server. To enable it, set {hint}."
