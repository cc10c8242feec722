"""What one turn did: the tokens its model calls used (always) and, when telemetry is on, its
spans.

`Turn` is an async context manager around a turn's run. Its `callbacks` go into the run's
LangChain config: a usage counter that adds up every model call's `usage_metadata`
(langchain-core's `add_usage`, so reasoning and cached-token details add up too), and the span
handler of `agent.telemetry` when a `TurnTracer` is given. Leaving the block ends the turn
span with its outcome (answered, interrupted, error, cancelled, not_found). A turn that paused
for a person's approval, and each decision a turn applies, are span events on it
(`paused`, `decided`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult

from agent.events import Interrupt, TokenUsage
from agent.ownership import ThreadNotFound
from agent.telemetry import semconv as sc

if TYPE_CHECKING:
    from agent.telemetry.tracer import TurnSpan, TurnTracer


def cached_input_tokens(usage: UsageMetadata) -> int:
    """Input tokens served from the prompt cache (langchain-openai's `cache_read`, also under
    a service-tier prefix such as `priority_cache_read`)."""
    details: Mapping[str, Any] = usage.get("input_token_details") or {}
    return sum(int(v or 0) for k, v in details.items() if k.endswith("cache_read"))


class UsageCounter(BaseCallbackHandler):
    """Adds up the `usage_metadata` of every chat model call of one turn."""

    # Called on the event loop, never in an executor: a handler that is not inline would be
    # run in a worker thread for every streamed token.
    run_inline = True

    def __init__(self) -> None:
        super().__init__()
        self.total: UsageMetadata | None = None

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        """Add the call's usage, when the model reported it (the offline model does not)."""
        for generations in response.generations:
            for generation in generations:
                message = generation.message if isinstance(generation, ChatGeneration) else None
                usage = message.usage_metadata if isinstance(message, AIMessage) else None
                if usage:
                    self.total = add_usage(self.total, usage)

    def usage(self) -> TokenUsage:
        """The turn's usage so far."""
        total = self.total
        if total is None:
            return TokenUsage()
        details = total.get("output_token_details") or {}
        return TokenUsage(input_tokens=total["input_tokens"],
                          output_tokens=total["output_tokens"],
                          reasoning_tokens=int(details.get("reasoning") or 0),
                          total_tokens=total["total_tokens"],
                          cached_input_tokens=cached_input_tokens(total))


class Turn:
    """One turn's observers; use as `async with turn:` around the run."""

    def __init__(self, thread_id: str, run_id: str, tracer: TurnTracer | None = None) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self.agent = ""  # the specialist that answered, set by the bot when known
        self._counter = UsageCounter()
        self._tracer = tracer
        self._span: TurnSpan | None = None
        self.interrupted = False  # the turn paused for a person's approval

    @property
    def callbacks(self) -> list[BaseCallbackHandler]:
        """The LangChain callback handlers to run the turn with."""
        handlers: list[BaseCallbackHandler] = [self._counter]
        if self._span is not None:
            handlers.append(self._span.handler)
        return handlers

    @property
    def usage(self) -> TokenUsage:
        """Tokens used so far."""
        return self._counter.usage()

    def paused(self, interrupt: Interrupt) -> None:
        """The turn paused before `interrupt`'s call, for a person's decision."""
        self.interrupted = True
        if self._span is not None:
            self._span.event(sc.APPROVAL_REQUESTED, {
                sc.INTERRUPT_ID: interrupt.interrupt_id, sc.SPECIALIST: interrupt.agent,
                sc.TOOL_NAME: interrupt.tool, sc.TOOL_CALL_ID: interrupt.tool_call_id},
                content={sc.TOOL_CALL_ARGUMENTS: interrupt.args})

    def decided(self, interrupt_id: str, agent: str, tool: str, tool_call_id: str,
                decision: str, reason: str = "") -> None:
        """The turn applies a person's decision on a waiting call (or declines it because a
        new question was asked: `reason` "new_question")."""
        if self._span is None:
            return
        attributes = {sc.INTERRUPT_ID: interrupt_id, sc.SPECIALIST: agent, sc.TOOL_NAME: tool,
                      sc.TOOL_CALL_ID: tool_call_id, sc.DECISION: decision}
        if reason:
            attributes[sc.DECISION_REASON] = reason
        self._span.event(sc.APPROVAL_DECIDED, attributes)

    async def __aenter__(self) -> Turn:
        if self._tracer is not None:
            self._span = self._tracer.start_turn(self.thread_id, self.run_id)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._span is None:
            return
        if exc is None:
            outcome = "interrupted" if self.interrupted else "answered"
        elif isinstance(exc, ThreadNotFound):
            outcome = "not_found"
        elif isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            outcome = "cancelled"
        else:
            outcome = "error"
        self._span.end(outcome, self.agent, self.usage, exc)
