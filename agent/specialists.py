"""The specialist agents the supervisor can route to, and which of them are configured.

Each specialist is a name (`docsearch`, `sqlsearch`, `apisearch`, `websearch`, `chat`), a
system prompt and the tools it answers with. One whose backend is not configured is still
listed (so an explicit `@mention` can say which setting enables it) but is not offered to the
router. `chat` needs no tools: it handles greetings, thanks, questions about the bot and
questions no other specialist fits, from the model alone, and says what the bot can do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from langchain_core.tools import BaseTool

CHAT = "chat"
SPECIALIST_NAMES: tuple[str, ...] = ("docsearch", "sqlsearch", "apisearch", "websearch", CHAT)

ANSWER_RULES = (
    "Answer only from the results of your tools; never from memory. "
    "Cite every fact taken from a result as [[n]](source), where n numbers the sources in "
    "order of first use and source is the result's `source` value exactly. "
    "If the tools found nothing relevant, say so plainly instead of guessing. "
    "Answer in the language of the question, concisely."
)

CHAT_DESCRIPTION = (
    "General conversation: greetings, thanks, questions about this bot and what it can do, "
    "and questions that none of the other specialists listed here can answer from its sources."
)

# One line per specialist in the chat prompt: `- @name — status — description`, where status
# is `available` or `not configured (enable with SETTING)`. The offline model reads these lines.
CAPABILITY_SEPARATOR = " — "
AVAILABLE = "available"
NOT_CONFIGURED = "not configured (enable with {hint})"


@dataclass(frozen=True)
class Specialist:
    """One specialist agent: what it is for, how it answers, and with which tools."""

    name: str
    description: str
    prompt: str
    tools: Sequence[BaseTool] = field(default_factory=tuple)
    enable_hint: str = ""
    uses_tools: bool = True

    @property
    def enabled(self) -> bool:
        """Configured: it has at least one tool to answer with, or needs none."""
        return bool(self.tools) or not self.uses_tools


def capability_line(specialist: Specialist) -> str:
    """How the chat prompt lists one specialist."""
    status = (AVAILABLE if specialist.enabled
              else NOT_CONFIGURED.format(hint=specialist.enable_hint))
    return CAPABILITY_SEPARATOR.join(
        (f"- @{specialist.name}", status, specialist.description))


# What `chat` may and may not do; also said by the supervisor's first call, which answers as
# `chat` when no specialist fits (`agent.supervisor`).
NO_SOURCES = (
    "never cite, never write [[n]](source) links, never claim to have looked something up, "
    "and never make up documents, data, prices or news."
)
CHAT_MANNER = (
    "When asked what you can do, summarise the specialists below briefly. When a question "
    "needs a specialist's sources or live data, say which specialist would help (users pick "
    "one by starting a message with its @name) and, if it is not configured here, the setting "
    "that enables it. General knowledge questions you may answer briefly, saying it is from "
    "general knowledge, not from a source. Answer in the language of the user, concisely."
)


def capability_lines(specialists: Iterable[Specialist]) -> str:
    """Every specialist as the chat prompt lists it, one line each."""
    return "\n".join(capability_line(s) for s in specialists)


def chat_prompt(specialists: Iterable[Specialist]) -> str:
    """The chat specialist's system prompt: how to talk, and what the bot can do here."""
    return (
        "You are the conversational side of a smart bot whose specialists answer questions "
        "from their own sources (documents, databases, APIs, the web), with citations. You "
        "handle greetings, thanks, questions about the bot and questions no specialist fits. "
        f"You have no tools and no sources: {NO_SOURCES} {CHAT_MANNER}\n\n"
        f"Specialists on this server:\n{capability_lines(specialists)}"
    )
