"""The HTTP contract's request and response bodies (the seed client's shapes).

Every rule a request must meet is written once here and stated in the OpenAPI document as a
JSON Schema keyword: the patterns below are checked by the validators with Python's `re` and
mean the same in the ECMA-262 dialect that JSON Schema uses (no `\\s`, no `\\w`: the
characters are spelled out; a test holds the two readings together). The length limits that
are settings (`MAX_INPUT_CHARS`, `MAX_BATCH_QUESTIONS`) are added by `api.openapi`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.decisions import InterruptOut, ResumeDecision, non_null
from api.text_rules import QUESTION_PATTERN as QUESTION_PATTERN  # also read from here
from api.text_rules import QUESTION_SCHEMA, UNICODE_NOTE, check_question
from api.text_rules import WHITESPACE as WHITESPACE

THREAD_ID_MAX = 128
# Characters a thread id never holds: URL and path syntax, controls, line separators.
_FORBIDDEN = r"/\\?#\x00-\x1f\x7f-\x9f\u2028\u2029"
# White space that may sit inside a thread id but not at its start or end (the rest of
# WHITESPACE is forbidden anyway).
_EDGE = r" \xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
_THREAD_ID_BODY = f"[^{_FORBIDDEN}{_EDGE}](?:[^{_FORBIDDEN}]*[^{_FORBIDDEN}{_EDGE}])?"
THREAD_ID_PATTERN = f"^{_THREAD_ID_BODY}$"  # in a path: 1 to 128 characters
OPTIONAL_THREAD_ID_PATTERN = f"^(?:{_THREAD_ID_BODY})?$"  # in a body: empty = a new thread
# `GET /threads/{thread_id}?include=...`: the one value it takes (add tool calls and results).
INCLUDE_TOOLS = "tools"
_BAD_THREAD_CHARS = re.compile(f"[{_FORBIDDEN}]")
SURROGATE = re.compile(r"[\ud800-\udfff]")  # an unpaired UTF-16 surrogate
def check_thread_id(value: str) -> str:
    """A thread id is a database key: no path or URL syntax, no control characters."""
    if SURROGATE.search(value):
        raise ValueError("must be valid Unicode text (it holds an unpaired surrogate)")
    if _BAD_THREAD_CHARS.search(value):
        raise ValueError("must not contain '/', '\\', '?', '#' or control characters")
    if value != value.strip():
        raise ValueError("must not start or end with white space")
    return value


def check_named_thread_id(value: str) -> str:
    """A thread id a request names outside the API's own bodies (a header, a protocol's
    field): 1 to THREAD_ID_MAX characters, and `check_thread_id`'s rules."""
    if not value or len(value) > THREAD_ID_MAX:
        raise ValueError(f"must be 1 to {THREAD_ID_MAX} characters")
    return check_thread_id(value)


ThreadId = Annotated[
    str,
    Field(max_length=THREAD_ID_MAX, description="Conversation thread; empty starts a new one. "
          "1 to 128 characters, none of `/ \\ ? #` or control characters, no white space at "
          "either end.", examples=["session-5e426240-c770-4997-889d-519ab6153b80"],
          json_schema_extra={"pattern": OPTIONAL_THREAD_ID_PATTERN}),
    AfterValidator(check_thread_id),
]


def _not_null(value: Any, info: ValidationInfo) -> Any:
    if value is None:  # left out is fine; null is not one of the field's types
        raise ValueError("must be a string" if info.field_name == "user_input"
                         else "must be an object (or left out)")
    return value


def _invoke_schema(schema: dict[str, Any]) -> None:
    """`/invoke` and `/stream` bodies are one kind of turn, stated as `oneOf`: a question
    (`user_input`), the last question again (`regenerate`) or a decision on a paused call
    (`resume`); the last two name their thread."""
    props = schema["properties"]
    props["user_input"] = non_null(props["user_input"])
    props["resume"] = non_null(props["resume"])
    regenerating: dict[str, Any] = {"required": ["regenerate"],
                                    "properties": {"regenerate": {"const": True}}}
    named_thread = {"thread_id": {"minLength": 1}}

    def only(kind: dict[str, Any], *others: dict[str, Any]) -> dict[str, Any]:
        return {**kind, "not": {"anyOf": list(others)}}

    schema["oneOf"] = [
        only({"required": ["user_input"]}, {"required": ["resume"]}, regenerating),
        only({"required": ["regenerate", "thread_id"],
              "properties": {**regenerating["properties"], **named_thread}},
             {"required": ["user_input"]}, {"required": ["resume"]}),
        only({"required": ["resume", "thread_id"], "properties": named_thread},
             {"required": ["user_input"]}, regenerating),
    ]
    schema["examples"] = [
        {"user_input": "@docsearch, how are conversation threads stored?", "thread_id": ""},
        {"thread_id": "session-5e426240-c770-4997-889d-519ab6153b80", "regenerate": True}]


class InvokeRequest(BaseModel):
    """One kind of turn on a thread (used by `/invoke` and `/stream`): a question, the
    thread's last question answered again (`regenerate`), or a decision on the call a paused
    run waits for (`resume`)."""

    model_config = ConfigDict(json_schema_extra=_invoke_schema)

    user_input: str | None = Field(
        default=None, description="The user's question: not only white space, at most "
        "MAX_INPUT_CHARS characters. Start it with @docsearch, @sqlsearch, @apisearch, "
        "@websearch or @chat to pick the specialist. Required, unless `regenerate` or "
        "`resume`. " + UNICODE_NOTE, json_schema_extra=QUESTION_SCHEMA)
    thread_id: ThreadId = ""
    regenerate: bool = Field(default=False, strict=True, description="Answer the thread's "
                             "last question again, replacing its answer (needs `thread_id`, no "
                             "`user_input`).")
    resume: ResumeDecision | None = Field(
        default=None, description="A decision on the call the thread's paused run waits for "
        "(needs `thread_id`, no `user_input`).")

    _no_nulls = field_validator("user_input", "resume", mode="before")(_not_null)

    @field_validator("user_input")
    @classmethod
    def _check_user_input(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_question(value, info)

    @model_validator(mode="after")
    def _one_kind_of_turn(self) -> InvokeRequest:
        if self.regenerate:
            if self.user_input is not None:
                raise ValueError("regenerate: send either user_input or regenerate, not both")
            if self.resume is not None:
                raise ValueError("regenerate: send either resume or regenerate, not both")
            if not self.thread_id:
                raise ValueError("thread_id: regenerate needs the thread_id of the thread")
        elif self.resume is not None:
            if self.user_input is not None:
                raise ValueError("resume: send either user_input (a question) or resume (a "
                                 "decision on a paused call), not both")
            if not self.thread_id:
                raise ValueError("thread_id: resume needs the thread_id of the paused thread")
        elif self.user_input is None:
            raise ValueError("user_input: is required (or resume, a decision on a paused call)")
        return self


class StreamRequest(InvokeRequest):
    """`/stream`'s body: `/invoke`'s, and what happens to the run if the client leaves."""

    on_disconnect: Literal["cancel", "continue"] = Field(
        default="cancel", description="If the client leaves mid-answer: `cancel` stops the run "
        "(no more tokens are spent); `continue` lets it run to its end and saves it as if the "
        "client had stayed (rejoin it with GET /threads/{thread_id}/runs/{run_id}/stream).")


class Usage(BaseModel):
    """Tokens the turn's model calls used (routing included), as the model service reported
    them; zeros when it reports none (the offline model)."""

    input_tokens: int = 0
    output_tokens: int = Field(default=0, description="Reasoning tokens included.")
    reasoning_tokens: int = 0
    total_tokens: int = 0
    cached_input_tokens: int = Field(
        default=0, description="Of input_tokens, those served from the prompt cache.")


class InvokeResponse(BaseModel):
    """The answer to one question (or to a decision), or the call the run paused before."""

    final_answer: str | None = Field(description="The answer; null when the run paused for a "
                                     "decision (`interrupt`).")
    thread_id: str
    run_id: str
    agent: str = Field(default="", description="The specialist that answered.")
    usage: Usage = Field(default_factory=Usage)
    interrupt: InterruptOut | None = Field(default=None, description="Only when the run "
                                           "paused: the call waiting for a decision.")

    def to_json(self) -> dict[str, Any]:
        """The body: `interrupt` only when the run paused."""
        return self.model_dump(exclude={"interrupt"} if self.interrupt is None else set())


class BatchRequest(BaseModel):
    """Several questions: in order on one thread, or concurrently each on a new thread."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"questions": [
        "What is in the README?", "@sqlsearch which state had the most COVID deaths in 2020?"],
        "thread_id": ""}]})

    questions: list[Annotated[str, Field(json_schema_extra=QUESTION_SCHEMA)]] = Field(
        min_length=1, description="Questions, answered in order: 1 to MAX_BATCH_QUESTIONS, "
        "each like `user_input`.")
    thread_id: ThreadId = ""

    @field_validator("questions")
    @classmethod
    def _check_questions(cls, value: list[str], info: ValidationInfo) -> list[str]:
        context = info.context if isinstance(info.context, dict) else {}
        limit = context.get("max_batch_questions")
        if isinstance(limit, int) and len(value) > limit:
            raise ValueError(f"has {len(value)} questions; the limit is {limit} "
                             "(MAX_BATCH_QUESTIONS)")
        for index, question in enumerate(value):
            try:
                check_question(question, info)
            except ValueError as exc:
                raise ValueError(f"item {index} {exc}") from None
        return value


class BatchItem(BaseModel):
    """The outcome of one batch question."""

    status: Literal["ok", "error", "timeout", "interrupted"] = Field(
        description="`timeout`: not answered within REQUEST_DEADLINE_SECONDS; `interrupted`: "
        "the run paused before a call that waits for a decision (`interrupt`).")
    answer: str
    thread_id: str
    run_id: str
    error: str | None = None
    status_code: int | None = Field(default=None, description="For a failed question, the "
                                    "HTTP status /invoke would have answered with.")
    retry_after: int | None = Field(default=None, description="For a rate-limited question, "
                                    "the seconds after which a retry may succeed.")
    usage: Usage | None = Field(default=None, description="For an answered question, the "
                                "tokens it used.")
    interrupt: InterruptOut | None = Field(default=None, description="Only for an "
                                           "`interrupted` question: the call waiting for a "
                                           "decision.")


class BatchResponse(BaseModel):
    """Answers in the order asked, with a structured result per question."""

    answers: list[str]
    results: list[BatchItem]
    thread_id: str = Field(description="The shared thread, or empty when each question "
                           "had its own.")

    def to_json(self) -> dict[str, Any]:
        """The body: an item's `interrupt` only when it paused."""
        body = self.model_dump()
        for item in body["results"]:
            if item["interrupt"] is None:
                del item["interrupt"]
        return body


class ErrorItem(BaseModel):
    """One problem with the request."""

    field: str
    message: str


class ErrorResponse(BaseModel):
    """A 4xx/5xx error body."""

    detail: str
    errors: list[ErrorItem] = Field(default_factory=list)


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"] = "ok"
    version: str
    model_provider: str
    thread_store: str


# --- /stream event payloads (documented in the OpenAPI document; `api.streaming` sends them) --
class StreamMetadata(BaseModel):
    """`metadata` event: sent first, before any model work."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    thread_id: str


class ToolStartEvent(BaseModel):
    """`on_tool_start` event: a tool call begins (`input` truncated to TOOL_PREVIEW_CHARS)."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    name: str
    tool_call_id: str
    input: str


class ToolEndEvent(BaseModel):
    """`on_tool_end` event: a tool call ended (`output` truncated to TOOL_PREVIEW_CHARS)."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    name: str
    tool_call_id: str
    output: str
    status: Literal["success", "error"]


class StreamError(BaseModel):
    """`error` event: the run failed after the stream started; it ends the stream."""

    model_config = ConfigDict(extra="forbid")

    status_code: int
    message: str
    run_id: str
    retry_after: int | None = Field(default=None, description="For a rate-limited run (429), "
                                    "the seconds after which a retry may succeed; absent "
                                    "otherwise.")
