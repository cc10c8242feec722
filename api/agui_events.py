"""AG-UI 1.0 in and out, typed and encoded with the `ag-ui-protocol` package: `RunAgentInput`
read into a turn, and the turn's events written as AG-UI events.

In: `threadId` is the bot's thread (the thread is the conversation: of `messages` only the last
is read, and it must be the user's question, as text or text parts); `runId` is echoed in the
run's events; `state`, `context`, `tools` and `forwardedProps` are accepted and not used (the
bot calls only its own tools). `resume` entries are decisions on a paused run
(`RUN_FINISHED.outcome.interrupt`): `resolved` with a payload `{"decision": "approve" | "edit" |
"reject", "args"?, "message"?}`, `cancelled` for a rejection.

Out, in order: `RUN_STARTED`; per stretch of answer text `TEXT_MESSAGE_START`, its tokens as
`TEXT_MESSAGE_CONTENT`, `TEXT_MESSAGE_END`; per tool call the bot makes `TOOL_CALL_START`,
`TOOL_CALL_ARGS` (the input preview `/stream` shows), `TOOL_CALL_END` and, when it returns,
`TOOL_CALL_RESULT`; then `RUN_FINISHED` (outcome `success` with the usage and the answering
specialist, or `interrupt` when the run paused for approval), or `RUN_ERROR` if the run failed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ag_ui.core import (
    BaseEvent,
    Interrupt,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    TokenUsage,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from pydantic import ValidationError

from agent.events import Answer, Token, ToolEvent
from agent.turns import Decision
from api.problems import field_problem
from api.schemas import check_named_thread_id
from api.text_rules import check_question_text

DECISIONS = ("approve", "edit", "reject")
RESUME_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["decision"], "additionalProperties": False,
    "properties": {"decision": {"enum": list(DECISIONS)}, "args": {"type": "object"},
                   "message": {"type": "string"}}}
ERROR_CODES = {401: "unauthorized", 404: "not_found", 409: "thread_busy", 413: "too_large",
               415: "unsupported_media_type", 429: "rate_limited", 500: "internal_error",
               502: "upstream_error", 504: "timeout"}


@dataclass(frozen=True)
class RunRequest:
    """What a run asks of the bot."""

    thread_id: str
    run_id: str
    question: str | None  # None when the run resumes a paused one
    resume: Decision | None


def error_event(status: int, message: str) -> RunErrorEvent:
    """`RUN_ERROR` for a failure with this HTTP status."""
    code = ERROR_CODES.get(status) or ("invalid_input" if status < 500 else "internal_error")
    return RunErrorEvent(message=message, code=code)


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for index, part in enumerate(content):
        if getattr(part, "type", None) != "text":
            raise field_problem(422, f"{where}[{index}].type", "only text is understood")
        texts.append(part.text)
    return "\n".join(texts)


def _resume(entries: list[Any]) -> Decision | None:
    if not entries:
        return None
    if len(entries) > 1:
        raise field_problem(422, "resume", "one decision at a time: the bot pauses for one "
                            "tool call")
    entry = entries[0]
    if entry.status == "cancelled":
        return Decision(entry.interrupt_id, "reject")
    payload = entry.payload
    if not isinstance(payload, dict) or payload.get("decision") not in DECISIONS:
        raise field_problem(422, "resume.0.payload", "must be {\"decision\": \"approve\" | "
                            "\"edit\" | \"reject\", \"args\"?: object, \"message\"?: "
                            "string}")
    args, message = payload.get("args"), payload.get("message")
    if (args is not None and not isinstance(args, dict)) or (
            message is not None and not isinstance(message, str)):
        raise field_problem(422, "resume.0.payload", "args must be an object, message a "
                            "string")
    return Decision(entry.interrupt_id, payload["decision"], args, message)


def parse_input(data: Any, max_input_chars: int) -> RunRequest:
    """The run a `RunAgentInput` asks for, or a 422 `Problem` naming the field."""
    if not isinstance(data, dict):
        raise field_problem(422, "body", "must be a JSON object (RunAgentInput)")
    try:
        run = RunAgentInput.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise field_problem(422, _field(error["loc"]), str(error["msg"])) from None
    try:
        check_named_thread_id(run.thread_id)
    except ValueError as exc:
        raise field_problem(422, "threadId", str(exc)) from None
    resume = _resume(run.resume or [])
    if resume is not None:
        return RunRequest(run.thread_id, run.run_id, None, resume)
    if not run.messages or run.messages[-1].role != "user":
        raise field_problem(422, "messages", "the last message must be the user's question")
    where = f"messages.{len(run.messages) - 1}.content"
    question = _text(run.messages[-1].content, where)
    try:
        check_question_text(question, max_input_chars)
    except ValueError as exc:
        raise field_problem(422, where, f"the question {exc}") from None
    return RunRequest(run.thread_id, run.run_id, question, None)


def _clean(text: str) -> str:
    """Text that JSON can carry (an unpaired surrogate becomes U+FFFD)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


class EventWriter:
    """The AG-UI events of one run, as SSE bytes, in a valid order."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        self.thread_id = thread_id
        self.run_id = run_id
        self._encoder = EventEncoder()
        self._message_id: str | None = None  # the open text message

    def _encode(self, *events: BaseEvent) -> bytes:
        return "".join(self._encoder.encode(e) for e in events).encode("utf-8")

    def _close_text(self) -> list[BaseEvent]:
        if self._message_id is None:
            return []
        message_id, self._message_id = self._message_id, None
        return [TextMessageEndEvent(message_id=message_id)]

    def started(self) -> bytes:
        """`RUN_STARTED`."""
        return self._encode(RunStartedEvent(thread_id=self.thread_id, run_id=self.run_id))

    def event(self, item: object) -> bytes:
        """The AG-UI events for one event of the run (none for an empty token)."""
        events: list[BaseEvent] = []
        if isinstance(item, Token) and item.text:
            if self._message_id is None:
                self._message_id = str(uuid.uuid4())
                events.append(TextMessageStartEvent(message_id=self._message_id,
                                                    role="assistant"))
            events.append(TextMessageContentEvent(message_id=self._message_id,
                                                  delta=_clean(item.text)))
        elif isinstance(item, ToolEvent) and item.kind == "tool_start":
            events += self._close_text()
            events.append(ToolCallStartEvent(tool_call_id=item.tool_call_id,
                                             tool_call_name=item.name,
                                             metadata={"agent": item.agent}))
            if item.input:
                events.append(ToolCallArgsEvent(tool_call_id=item.tool_call_id,
                                                delta=_clean(item.input)))
            events.append(ToolCallEndEvent(tool_call_id=item.tool_call_id))
        elif isinstance(item, ToolEvent):
            events.append(ToolCallResultEvent(
                message_id=str(uuid.uuid4()), tool_call_id=item.tool_call_id, role="tool",
                content=_clean(item.output or ""),
                metadata={"agent": item.agent, "status": item.status}))
        return self._encode(*events)

    def finished(self, answer: Answer) -> bytes:
        """The open text message's end, then `RUN_FINISHED` with the outcome."""
        usage = TokenUsage(input_tokens=answer.usage.input_tokens,
                           output_tokens=answer.usage.output_tokens,
                           total_tokens=answer.usage.total_tokens,
                           reasoning_tokens=answer.usage.reasoning_tokens,
                           cached_input_tokens=answer.usage.cached_input_tokens)
        interrupt = answer.interrupt  # approvals (issue 24)
        outcome: RunFinishedSuccessOutcome | RunFinishedInterruptOutcome
        if interrupt is None:
            outcome = RunFinishedSuccessOutcome()
        else:
            outcome = RunFinishedInterruptOutcome(interrupts=[Interrupt(
                id=interrupt.interrupt_id, reason="tool_approval",
                tool_call_id=interrupt.tool_call_id,
                message=f"{interrupt.agent} asks to run {interrupt.tool}: approve, edit or "
                        "reject it.",
                response_schema=RESUME_SCHEMA,
                metadata={"agent": interrupt.agent, "tool": interrupt.tool,
                          "args": interrupt.args})])
        return self._encode(*self._close_text(), RunFinishedEvent(
            thread_id=self.thread_id, run_id=self.run_id, outcome=outcome, usage=[usage],
            result={"agent": answer.agent}))

    def error(self, status: int, message: str) -> bytes:
        """`RUN_ERROR`: the run failed; nothing follows."""
        return self._encode(error_event(status, message))
