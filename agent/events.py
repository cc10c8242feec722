"""What a running turn reports, independent of how it is sent: answer tokens, tool use, a pause
for approval, the answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from agent.memory.runlog_events import RunInfo
from agent.memory.thread_index import Feedback, ThreadSummary


@dataclass(frozen=True, slots=True)
class Token:
    """A chunk of the answering specialist's text, as the model produced it."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolEvent:
    """A tool call starting (`input` set) or ending (`output` and `status` set)."""

    kind: Literal["tool_start", "tool_end"]
    agent: str
    name: str
    tool_call_id: str
    input: str | None = None
    output: str | None = None
    status: str | None = None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens the turn's model calls used, as the model service reported them."""

    input_tokens: int = 0
    output_tokens: int = 0  # reasoning tokens included
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int = 0  # of input_tokens, served from the service's prompt cache


@dataclass(frozen=True, slots=True)
class Interrupt:
    """The turn paused before a tool call that waits for a person's approval."""

    interrupt_id: str
    agent: str
    tool: str
    tool_call_id: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Answer:
    """The turn's final answer, the specialist that gave it, and the tokens it used; when the
    turn paused for approval, `interrupt` says what waits (and `text` is what was said so
    far)."""

    text: str
    agent: str
    usage: TokenUsage = TokenUsage()
    interrupt: Interrupt | None = None


BotEvent = Token | ToolEvent | Interrupt | Answer


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call an assistant message made (shown when a thread is read with its tools)."""

    id: str
    name: str
    args: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ThreadMessage:
    """One message of a stored thread: a question, an answer (`agent` answered it), or, when
    read with its tools, a tool-calling assistant message or a tool's result."""

    role: Literal["user", "assistant", "tool", "system"]
    content: str
    agent: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    tool_call_id: str | None = None
    tool: str | None = None
    run_id: str | None = None  # the turn the message belongs to (None in older threads)


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A tool call waiting on a thread for a person's decision, and the run that asked."""

    interrupt: Interrupt
    run_id: str


@dataclass(frozen=True, slots=True)
class ThreadView:
    """A stored thread as a client reads it: its conversation, summary (title, times), the
    feedback given to its answers (by run id), the run streaming on it now, and the call
    waiting for a decision, if one waits."""

    thread_id: str
    messages: list[ThreadMessage]
    summary: ThreadSummary | None = None
    feedback: dict[str, Feedback] = field(default_factory=dict)
    active_run: RunInfo | None = None  # the run streaming on the thread now, to rejoin
    pending: PendingCall | None = None
