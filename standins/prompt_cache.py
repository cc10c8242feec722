"""The prompt cache of the model stand-in: how many input tokens a request has, and how many of
them a cache would have served, as Azure OpenAI reports them (`usage.prompt_tokens_details.
cached_tokens`).

Azure OpenAI caches a prompt's prefix once it is at least 1024 tokens long, in steps of 128
tokens after that, for prompts whose beginning is byte-identical to a recent one's. Here a
request's prompt is its tool definitions followed by its messages, each as compact JSON, in the
order sent (the stable part, system prompt and tools, must come first for anything to be
reused); a token is four characters. The longest prefix it shares with any of the last
`REMEMBERED` prompts is what the cache serves.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any

MIN_CACHED_TOKENS = 1024
CACHE_STEP_TOKENS = 128
CHARS_PER_TOKEN = 4
REMEMBERED = 256


def rendered(body: dict[str, Any]) -> str:
    """The prompt of a request as the cache sees it: tools, then messages."""
    parts = [json.dumps(body.get("tools") or [], separators=(",", ":"))]
    parts += [json.dumps(m, separators=(",", ":")) for m in body.get("messages") or []]
    return "\n".join(parts)


def shared_prefix(a: str, b: str) -> int:
    """How many leading characters two prompts share."""
    limit = min(len(a), len(b))
    if a[:limit] == b[:limit]:
        return limit
    low, high = 0, limit  # the first difference is in a[low:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low


def cached_tokens(shared_tokens: int) -> int:
    """What the service reports as cached for a shared prefix of this many tokens."""
    if shared_tokens < MIN_CACHED_TOKENS:
        return 0
    steps = (shared_tokens - MIN_CACHED_TOKENS) // CACHE_STEP_TOKENS
    return MIN_CACHED_TOKENS + steps * CACHE_STEP_TOKENS


class PromptCache:
    """Remembers recent prompts; `usage(body)` is (prompt tokens, cached tokens) of a request."""

    def __init__(self) -> None:
        self._seen: deque[str] = deque(maxlen=REMEMBERED)
        self._lock = threading.Lock()

    def usage(self, body: dict[str, Any]) -> tuple[int, int]:
        """Count the request's prompt and the part a cache serves; remember the prompt."""
        text = rendered(body)
        with self._lock:
            shared = max((shared_prefix(text, seen) for seen in self._seen), default=0)
            self._seen.append(text)
        prompt = -(-len(text) // CHARS_PER_TOKEN)
        return prompt, min(cached_tokens(shared // CHARS_PER_TOKEN), prompt)
