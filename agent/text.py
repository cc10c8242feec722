"""Plain-text helpers shared by the local index and the offline model: words and stop words."""

from __future__ import annotations

import re

WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "could", "did", "do", "does",
    "for", "from", "had", "has", "have", "how", "i", "in", "is", "it", "its", "me", "my", "of",
    "on", "or", "our", "that", "the", "their", "them", "then", "there", "these", "this", "to",
    "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will",
    "with", "would", "you", "your", "about", "tell", "describe", "explain", "please", "give",
    "show", "find"
})


def content_words(text: str) -> list[str]:
    """Lower-case words of a text, without stop words and one-letter words."""
    return [w for w in WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1]
