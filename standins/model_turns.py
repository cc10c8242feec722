"""What the model stand-in replies: scripted turns, Azure's failures, and the default policy.

A `Turn` is one scripted reply (text chunks with pacing, tool calls, or a failure). With the
script empty the stand-in follows `default_turn`, a small protocol-level policy:

- a forced `tool_choice` (a named function, or `required`) gets a call of that function (the
  first one for `required`) with each argument filled: an enum with its first value (`chat`
  when it is offered and the question is a greeting), anything else with the question;
- a greeting ("hello", "hi", "thanks", ...) is answered in text, never with a tool call;
- otherwise, while the turn has no tool results yet, the first declared tool is called with
  the question; once it has, the reply is an answer of `answer_tokens` words.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

GREETING = re.compile(r"^\W*(hello|hi|hey|thanks|thank you|good (morning|afternoon|evening))\b",
                      re.IGNORECASE)


@dataclass
class Turn:
    """One scripted model reply: text chunks (with pacing) or tool calls, or a failure."""

    chunks: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    first_delay: float = 0.0  # after the response headers, before the first chunk
    delay: float = 0.0
    header_delay: float = 0.0  # before the response starts at all
    status: int = 200
    fail_after: int | None = None  # drop the connection after this many chunks
    error: dict[str, Any] | None = None  # the JSON body of a failure (Azure's shape)
    headers: dict[str, str] = field(default_factory=dict)  # headers of a failure
    finish_reason: str | None = None  # e.g. "content_filter" to cut the answer that way
    reasoning_tokens: int = 0  # reported in the usage chunk (and counted in completion_tokens)
    hold: threading.Event | None = None  # the reply starts only once the test sets it


def azure_error(http_status: int, code: str, message: str, *,
                headers: dict[str, str] | None = None, **extra: Any) -> Turn:
    """A scripted failure answered as Azure OpenAI answers it (`extra`: more body fields)."""
    return Turn(status=http_status, error={"code": code, "message": message, **extra},
                headers=headers or {})


def rate_limited(retry_after: int = 2) -> Turn:
    """429 with Azure's body and both retry headers."""
    return azure_error(
        429, "429", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
        "have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry "
        f"after {retry_after} seconds.",
        headers={"retry-after": str(retry_after), "retry-after-ms": str(retry_after * 1000)})


def prompt_filtered() -> Turn:
    """The 400 Azure answers when the prompt trips the content filter."""
    return azure_error(
        400, "content_filter", "The response was filtered due to the prompt triggering Azure "
        "OpenAI's content management policy. Please modify your prompt and retry.",
        param="prompt", status=400,
        innererror={"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
            "hate": {"filtered": False, "severity": "safe"},
            "self_harm": {"filtered": False, "severity": "safe"},
            "sexual": {"filtered": False, "severity": "safe"},
            "violence": {"filtered": True, "severity": "high"}}})


def server_error(status: int = 500) -> Turn:
    """A 5xx with Azure's body."""
    return azure_error(status, "InternalServerError", "The server had an error processing your "
                       "request. Sorry about that! You can retry your request.")


def _argument(schema: dict[str, Any], question: str, greeting: bool) -> Any:
    values = schema.get("enum")
    if values:
        return "chat" if greeting and "chat" in values else values[0]
    return question


def default_turn(body: dict[str, Any], first_delay: float, token_delay: float,
                 answer_tokens: int) -> Turn:
    """The reply to a request when no turn is scripted (see the module doc)."""
    messages = body.get("messages", [])
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    last_user: dict[str, Any] = next(
        (m for m in reversed(messages) if m.get("role") == "user"), {})
    question = str(last_user.get("content", ""))
    after_user = messages[messages.index(last_user) + 1:] if last_user in messages else []
    greeting = bool(GREETING.match(re.sub(r"^\W*@\w+\W*", "", question)))
    forced = isinstance(choice, dict) or choice == "required"
    may_call = bool(tools) and choice != "none"
    fresh = not any(m.get("role") == "tool" for m in after_user)
    if may_call and (forced or (fresh and not greeting)):
        fn = tools[0]["function"]
        if isinstance(choice, dict):
            name = choice["function"]["name"]
            fn = next(t["function"] for t in tools if t["function"]["name"] == name)
        props = fn.get("parameters", {}).get("properties", {})
        args = {name: _argument(schema, question, greeting) for name, schema in props.items()}
        return Turn(tool_calls=[{"name": fn["name"], "arguments": args}], first_delay=first_delay)
    words = [f" word{i}" for i in range(answer_tokens)]
    return Turn(chunks=["Answer:", *words], first_delay=first_delay, delay=token_delay)
