"""The spans of a turn, named and attributed by the OpenTelemetry GenAI semantic conventions.

    invoke_agent smartbot          one per turn: thread, run, specialist, outcome, token totals
    ├── chat <deployment>          one per model call: node, tokens (input, cached input,
    │                              output, reasoning),
    │                              time to first chunk, finish reason, response model
    └── execute_tool <tool>        one per tool call: tool, specialist, status (its duration is
                                   the span's)

A `TurnTracer` starts a turn span; the turn's `SpanHandler` (a LangChain callback handler,
called inline on the event loop) opens and closes the model and tool spans as LangChain reports
the calls, as children of the turn span (set explicitly, so it holds whichever task runs a
call). Without TELEMETRY_CAPTURE_CONTENT no prompt, answer, tool input or tool output is put in
a span, and an error is recorded by its type only (its message may quote the upstream reply).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    GenerationChunk,
    LLMResult,
)
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from agent.events import TokenUsage
from agent.memory.thread_index import Feedback
from agent.settings import Settings
from agent.telemetry import semconv as sc
from agent.telemetry.usage import cached_input_tokens

MAX_CONTENT_CHARS = 8192  # Application Insights keeps at most 8192 characters per property


def error_type(exc: BaseException) -> str:
    """The `error.type` of an exception: its class, qualified unless built in."""
    cls = type(exc)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_CONTENT_CHARS else text[:MAX_CONTENT_CHARS] + "…"


def _as_json(value: Any) -> str:
    return _bounded(json.dumps(value, ensure_ascii=False, default=str))


def _message_record(message: BaseMessage) -> dict[str, Any]:
    # a streamed reply ends as the merged chunk (type "AIMessageChunk"): record it as a message
    message = message_chunk_to_message(message)
    record: dict[str, Any] = {"role": message.type, "content": message.text}
    if isinstance(message, AIMessage) and message.tool_calls:
        record["tool_calls"] = [{"name": c["name"], "arguments": c["args"]}
                                for c in message.tool_calls]
    return record


def _specialist_of(node: str) -> str:
    return node.removesuffix("_tools")


class TurnTracer:
    """Starts turn spans; one per process (per bot), shared by every turn."""

    def __init__(self, settings: Settings, tracer_provider: TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("smartbot", tracer_provider=tracer_provider)
        self.capture_content = settings.telemetry_capture_content
        self.provider_name, self.system = sc.PROVIDERS[settings.provider]
        self.request_model = {"azure": settings.azure_openai_chat_deployment,
                              "openai": settings.openai_model,
                              "offline": "offline"}[settings.provider]

    def start_turn(self, thread_id: str, run_id: str) -> TurnSpan:
        """Start the span of one turn (a child of the caller's current span, if any)."""
        span = self._tracer.start_span(
            f"{sc.INVOKE_AGENT} {sc.AGENT}", kind=SpanKind.INTERNAL,
            attributes={sc.OPERATION_NAME: sc.INVOKE_AGENT, sc.AGENT_NAME: sc.AGENT,
                        sc.PROVIDER_NAME: self.provider_name, sc.CONVERSATION_ID: thread_id,
                        sc.RUN_ID: run_id})
        return TurnSpan(span, SpanHandler(self, trace.set_span_in_context(span)))

    def record_feedback(self, thread_id: str, feedback: Feedback) -> None:
        """A person's feedback on the answer of run `feedback.run_id`: a `feedback` span
        carrying a `gen_ai.evaluation.result` event (score 1 or -1, label thumbs_up or
        thumbs_down; the comment only when content capture is on)."""
        label = "thumbs_up" if feedback.score > 0 else "thumbs_down"
        attributes: dict[str, Any] = {
            sc.EVALUATION_NAME: sc.USER_FEEDBACK, sc.EVALUATION_SCORE_VALUE: feedback.score,
            sc.EVALUATION_SCORE_LABEL: label, sc.CONVERSATION_ID: thread_id,
            sc.RUN_ID: feedback.run_id}
        if self.capture_content and feedback.comment:
            attributes[sc.EVALUATION_EXPLANATION] = feedback.comment[:MAX_CONTENT_CHARS]
        with self._tracer.start_as_current_span(
                f"feedback {sc.AGENT}", kind=SpanKind.INTERNAL,
                attributes={sc.CONVERSATION_ID: thread_id, sc.RUN_ID: feedback.run_id,
                            sc.AGENT_NAME: sc.AGENT}) as span:
            span.add_event(sc.EVALUATION_RESULT, attributes=attributes)

    def start_span(self, name: str, kind: SpanKind, parent: Context,
                   attributes: dict[str, Any]) -> Span:
        """A span under `parent` (used by the handler)."""
        return self._tracer.start_span(name, context=parent, kind=kind, attributes=attributes)


class TurnSpan:
    """A started turn span and the handler that records its model and tool calls."""

    def __init__(self, span: Span, handler: SpanHandler) -> None:
        self.span = span
        self.handler = handler

    def event(self, name: str, attributes: dict[str, Any],
              content: dict[str, Any] | None = None) -> None:
        """A span event on the turn (`content` only with TELEMETRY_CAPTURE_CONTENT)."""
        if content and self.handler.capture_content:
            attributes = {**attributes, **{k: _as_json(v) for k, v in content.items()}}
        self.span.add_event(name, attributes)

    def end(self, outcome: str, specialist: str, usage: TokenUsage,
            exc: BaseException | None) -> None:
        """End the turn: its outcome, the specialist that answered and the tokens used."""
        span = self.span
        span.set_attribute(sc.OUTCOME, outcome)
        if specialist:
            span.set_attribute(sc.SPECIALIST, specialist)
        span.set_attributes({sc.USAGE_INPUT_TOKENS: usage.input_tokens,
                             sc.USAGE_OUTPUT_TOKENS: usage.output_tokens,
                             sc.USAGE_REASONING_OUTPUT_TOKENS: usage.reasoning_tokens,
                             sc.USAGE_CACHE_READ_INPUT_TOKENS: usage.cached_input_tokens,
                             sc.USAGE_TOTAL_TOKENS: usage.total_tokens})
        if exc is not None and outcome in ("error", "not_found"):
            span.set_attribute(sc.ERROR_TYPE, error_type(exc))
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        self.handler.close_open_calls(outcome)
        span.end()


@dataclass
class _Call:
    span: Span
    started: float = field(default_factory=time.perf_counter)
    first_chunk: float | None = None


class SpanHandler(BaseCallbackHandler):
    """Model and tool spans of one turn, from LangChain's callbacks."""

    run_inline = True  # on the event loop, never an executor hop per streamed token

    def __init__(self, tracer: TurnTracer, parent: Context) -> None:
        super().__init__()
        self._tracer = tracer
        self._parent = parent
        self._calls: dict[UUID, _Call] = {}

    @property
    def capture_content(self) -> bool:
        """Whether content (prompts, answers, tool arguments) may go into spans."""
        return self._tracer.capture_content

    # --- model calls ---------------------------------------------------------------------
    def on_chat_model_start(self, serialized: dict[str, Any],
                            messages: list[list[BaseMessage]], *, run_id: UUID,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Open the span of a model call."""
        tracer = self._tracer
        node = str((metadata or {}).get("langgraph_node", ""))
        attributes: dict[str, Any] = {
            sc.OPERATION_NAME: sc.CHAT, sc.PROVIDER_NAME: tracer.provider_name,
            sc.SYSTEM: tracer.system, sc.REQUEST_MODEL: tracer.request_model, sc.NODE: node,
            sc.AGENT_NAME: node}
        if tracer.capture_content and messages:
            attributes[sc.INPUT_MESSAGES] = _as_json([_message_record(m) for m in messages[0]])
        span = tracer.start_span(f"{sc.CHAT} {tracer.request_model}", SpanKind.CLIENT,
                                 self._parent, attributes)
        self._calls[run_id] = _Call(span)

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], *,
                         chunk: GenerationChunk | ChatGenerationChunk | None = None,
                         run_id: UUID, parent_run_id: UUID | None = None,
                         tags: list[str] | None = None, **kwargs: Any) -> None:
        """Note when the first chunk with text or a tool call arrives."""
        call = self._calls.get(run_id)
        if call is None or call.first_chunk is not None:
            return
        has_tool_call = (isinstance(chunk, ChatGenerationChunk)
                         and bool(getattr(chunk.message, "tool_call_chunks", None)))
        if token or has_tool_call:
            call.first_chunk = time.perf_counter()
            call.span.set_attribute(sc.RESPONSE_TIME_TO_FIRST_CHUNK,
                                    round(call.first_chunk - call.started, 6))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a model call's span with its usage and finish reason."""
        call = self._calls.pop(run_id, None)
        if call is None:
            return
        span = call.span
        generation = response.generations[0][0] if response.generations and \
            response.generations[0] else None
        message = generation.message if isinstance(generation, ChatGeneration) else None
        if isinstance(message, AIMessage):
            self._record_reply(span, message)
        span.end()

    def _record_reply(self, span: Span, message: AIMessage) -> None:
        usage = message.usage_metadata
        if usage:
            span.set_attribute(sc.USAGE_INPUT_TOKENS, usage["input_tokens"])
            span.set_attribute(sc.USAGE_OUTPUT_TOKENS, usage["output_tokens"])
            reasoning = (usage.get("output_token_details") or {}).get("reasoning")
            if reasoning is not None:
                span.set_attribute(sc.USAGE_REASONING_OUTPUT_TOKENS, reasoning)
            if usage.get("input_token_details"):
                span.set_attribute(sc.USAGE_CACHE_READ_INPUT_TOKENS, cached_input_tokens(usage))
        metadata = message.response_metadata or {}
        if metadata.get("model_name"):
            span.set_attribute(sc.RESPONSE_MODEL, str(metadata["model_name"]))
        if metadata.get("id"):
            span.set_attribute(sc.RESPONSE_ID, str(metadata["id"]))
        if metadata.get("finish_reason"):
            span.set_attribute(sc.RESPONSE_FINISH_REASONS, [str(metadata["finish_reason"])])
        if self._tracer.capture_content:
            span.set_attribute(sc.OUTPUT_MESSAGES, _as_json([_message_record(message)]))

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a failed model call's span."""
        self._fail(run_id, error)

    # --- tool calls ------------------------------------------------------------------------
    def on_tool_start(self, serialized: dict[str, Any], input_str: str, *, run_id: UUID,
                      metadata: dict[str, Any] | None = None,
                      inputs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Open the span of a tool call."""
        name = str((serialized or {}).get("name") or kwargs.get("name") or "tool")
        node = str((metadata or {}).get("langgraph_node", ""))
        attributes: dict[str, Any] = {
            sc.OPERATION_NAME: sc.EXECUTE_TOOL, sc.TOOL_NAME: name, sc.TOOL_TYPE: "function",
            sc.AGENT_NAME: _specialist_of(node), sc.NODE: node}
        if kwargs.get("tool_call_id"):
            attributes["gen_ai.tool.call.id"] = str(kwargs["tool_call_id"])
        if self._tracer.capture_content:
            attributes[sc.TOOL_CALL_ARGUMENTS] = (
                _as_json(inputs) if inputs is not None else _bounded(input_str))
        span = self._tracer.start_span(f"{sc.EXECUTE_TOOL} {name}", SpanKind.INTERNAL,
                                       self._parent, attributes)
        self._calls[run_id] = _Call(span)

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a tool call's span: it succeeded."""
        call = self._calls.pop(run_id, None)
        if call is None:
            return
        call.span.set_attribute(sc.TOOL_STATUS, "success")
        if self._tracer.capture_content:
            content = getattr(output, "content", output)
            text = content if isinstance(content, str) else _as_json(content)
            call.span.set_attribute(sc.TOOL_CALL_RESULT, _bounded(text))
        call.span.end()

    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Close a failed tool call's span (the model is told; the turn goes on)."""
        call = self._calls.get(run_id)
        if call is not None:
            call.span.set_attribute(sc.TOOL_STATUS, "error")
        self._fail(run_id, error)

    # --- both ------------------------------------------------------------------------------
    def _fail(self, run_id: UUID, error: BaseException) -> None:
        call = self._calls.pop(run_id, None)
        if call is None:
            return
        call.span.set_attribute(sc.ERROR_TYPE, error_type(error))
        call.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        call.span.end()

    def close_open_calls(self, outcome: str) -> None:
        """End the spans of calls that never reported an end (the turn was cut short)."""
        for call in self._calls.values():
            call.span.set_attribute(sc.OUTCOME, outcome)
            call.span.end()
        self._calls.clear()

