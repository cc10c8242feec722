"""The specialist agents the supervisor can route to, and which of them are configured.

Each specialist is a name (`docsearch`, `sqlsearch`, `apisearch`, `websearch`), a system
prompt and the tools it answers with. One whose backend is not configured is still listed
(so an explicit `@mention` can say which setting enables it) but is not offered to the router.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.tools import BaseTool

SPECIALIST_NAMES: tuple[str, ...] = ("docsearch", "sqlsearch", "apisearch", "websearch")

ANSWER_RULES = (
    "Answer only from the results of your tools; never from memory. "
    "Cite every fact taken from a result as [[n]](source), where n numbers the sources in "
    "order of first use and source is the result's `source` value exactly. "
    "If the tools found nothing relevant, say so plainly instead of guessing. "
    "Answer in the language of the question, concisely."
)


@dataclass(frozen=True)
class Specialist:
    """One specialist agent: what it is for, how it answers, and with which tools."""

    name: str
    description: str
    prompt: str
    tools: Sequence[BaseTool] = field(default_factory=tuple)
    enable_hint: str = ""

    @property
    def enabled(self) -> bool:
        """Configured: it has at least one tool to answer with."""
        return bool(self.tools)
