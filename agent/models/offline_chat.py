"""The offline model as `chat`: what it reads of the specialists from its system prompt, and
what it says.

The chat prompt (and the supervisor's first-call prompt) list every specialist as
`- @name — status — description` (`agent.specialists.capability_line`); the first-call prompt
also names each available specialist's tools (`- @name tools: a, b`). From these the offline
model answers a greeting or "what can you do?" with a short summary of the specialists, thanks
with thanks, and any other question by naming the specialist that could answer it (and the
setting that enables it when it is not configured).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, SystemMessage

from agent.models.offline_routing import THANKS_KEYWORDS, keyword_scores, strip_mentions
from agent.specialists import AVAILABLE, CAPABILITY_SEPARATOR, CHAT
from agent.supervisor import TOOLS_LABEL

REAL_MODEL_HINT = (
    "set MODEL_PROVIDER=azure with AZURE_OPENAI_ENDPOINT (Azure OpenAI), or "
    "MODEL_PROVIDER=openai with OPENAI_BASE_URL (any OpenAI-compatible server)"
)
_CAPABILITY = re.compile(
    rf"^- @(\w+){CAPABILITY_SEPARATOR}(.+?){CAPABILITY_SEPARATOR}(.+)$", re.MULTILINE)
_ENABLE_HINT = re.compile(r"not configured \(enable with (.+)\)")
_TOOLBOX = re.compile(rf"^- @(\w+){TOOLS_LABEL}(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Capability:
    """One specialist as the chat prompt lists it."""

    name: str
    available: bool
    enable_hint: str
    description: str

    @property
    def about(self) -> str:
        """The description as a clause: first letter lower-case, no final period."""
        text = self.description.rstrip(".")
        return text[:1].lower() + text[1:]


def _system_prompt(messages: Sequence[BaseMessage]) -> str:
    return next((m.text for m in messages if isinstance(m, SystemMessage)), "")


def read_capabilities(messages: Sequence[BaseMessage]) -> list[Capability]:
    """The specialists listed in the system prompt (the chat specialist's), if any."""
    out: list[Capability] = []
    for name, status, description in _CAPABILITY.findall(_system_prompt(messages)):
        hint = _ENABLE_HINT.fullmatch(status)
        out.append(Capability(name, status == AVAILABLE, hint.group(1) if hint else "",
                              description))
    return out


def read_toolbox(messages: Sequence[BaseMessage]) -> dict[str, list[str]]:
    """The tools of each specialist, as the supervisor's first-call prompt names them."""
    return {name: [t.strip() for t in tools.split(",")]
            for name, tools in _TOOLBOX.findall(_system_prompt(messages))}


def _summary(capabilities: Sequence[Capability], greeting: bool) -> str:
    available = [c for c in capabilities if c.available]
    missing = [c for c in capabilities if not c.available]
    parts = [("Hello! " if greeting else "")
             + "I'm a smart bot: I pass each question to a specialist that answers from its "
             "own sources, with citations.",
             "\n".join(f"- @{c.name}: {c.about}." for c in available)]
    if missing:
        parts.append("Not configured on this server: "
                     + "; ".join(f"@{c.name} (set {c.enable_hint})" for c in missing) + ".")
    parts.append("Just ask, or start your message with @name to pick a specialist. This server "
                 "runs the offline model, which answers with extracts from the sources; for a "
                 f"real model, {REAL_MODEL_HINT}.")
    return "\n\n".join(parts)


def chat_answer(question: str, capabilities: Sequence[Capability]) -> str:
    """The offline chat specialist's answer: a capability summary for a greeting or a question
    about the bot, thanks for thanks, otherwise which specialist could answer."""
    by_name = {c.name: c for c in capabilities}
    scores = keyword_scores(question, [*by_name, CHAT])
    fitting = max(by_name, key=lambda name: scores[name], default="")
    best = scores.get(fitting, 0)
    if scores[CHAT] and scores[CHAT] >= best:
        if any(re.search(rf"\b{kw}\b", question.lower()) for kw in THANKS_KEYWORDS):
            return "You're welcome! Ask me anything else whenever you like."
        greeting = bool(re.match(r"\W*(hello|hi|hey|good)\b", strip_mentions(question).lower()))
        return _summary(capabilities, greeting)
    if best:
        spec = by_name[fitting]
        if spec.available:
            return (f"That sounds like a question for @{spec.name}, which {spec.about}. Ask it "
                    f"again starting with @{spec.name} and it will answer from its sources.")
        return (f"That needs @{spec.name}, which {spec.about}, and it is not configured on "
                f"this server, so I can't look it up. To enable it, set {spec.enable_hint}.")
    names = ", ".join(f"@{c.name}" for c in capabilities if c.available)
    return ("I can't answer that: offline mode has no general knowledge, only the specialists' "
            f"sources ({names}). Start your question with one of them to search its sources, "
            f"or, for a real model, {REAL_MODEL_HINT}.")
