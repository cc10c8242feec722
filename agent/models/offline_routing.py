"""The offline model's routing: which specialist a question is for, by keywords.

Each specialist has a list of keywords (`ROUTE_KEYWORDS`); a question goes to the specialist
whose keywords it mentions most. With `chat` among the choices, greetings and the like,
questions that match no specialist, and questions that match one not offered (not configured)
best go to `chat`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from agent.specialists import CHAT

_MENTION = re.compile(r"(?<!\w)@\w+[,:]?\s*")
ROUTE_KEYWORDS: dict[str, tuple[str, ...]] = {
    "sqlsearch": ("sql", "database", "table", "rows", "covid", "deaths", "death", "cases",
                  "hospitalized", "tests", "state", "states", "average", "total", "sum",
                  "count", "how many", "most", "least", "per day"),
    "apisearch": ("price", "prices", "rate", "exchange", "quote", "api", "bitcoin", "btc",
                  "ethereum", "eth", "crypto", "currency", "stock", "weather"),
    "websearch": ("news", "today", "latest", "current", "recent", "web", "internet", "who is",
                  "capital", "distance", "wrote", "president", "when did", "population"),
    "docsearch": ("docs", "documentation", "document", "readme", "how do i", "configure",
                  "setting", "settings", "deploy", "thread", "stream", "api", "index"),
    CHAT: ("hello", "hi", "hey", "good morning", "good afternoon", "good evening", "thanks",
           "thank you", "thx", "bye", "goodbye", "who are you", "what are you", "your name",
           "what can you do", "what do you do", "how are you", "help"),
}
THANKS_KEYWORDS = ("thanks", "thank you", "thx", "bye", "goodbye")


def strip_mentions(text: str) -> str:
    """The question without `@specialist` mentions."""
    return _MENTION.sub("", text).strip()


def keyword_scores(question: str, names: Iterable[str]) -> dict[str, int]:
    """How many of each specialist's keywords the question mentions."""
    text = f" {strip_mentions(question).lower()} "
    return {name: sum(1 for kw in ROUTE_KEYWORDS.get(name, ()) if re.search(rf"\b{kw}\b", text))
            for name in names}


def choose_route(question: str, choices: Sequence[str]) -> str:
    """The specialist whose keywords the question mentions most (docsearch on a tie).

    With `chat` among the choices, it gets greetings and the like, questions that match no
    specialist, and questions that match one not offered (not configured) best."""
    scores = keyword_scores(question, ROUTE_KEYWORDS)
    offered = [name for name in choices if name != CHAT]
    best = max((scores.get(name, 0) for name in offered), default=0)
    if CHAT in choices:
        missing = max((n for name, n in scores.items() if name not in choices), default=0)
        if best == 0 or scores[CHAT] > best or missing > best:
            return CHAT
    if best == 0 or scores.get("docsearch") == best:
        return "docsearch" if "docsearch" in choices else choices[0]
    return next(name for name in offered if scores.get(name, 0) == best)
