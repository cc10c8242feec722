"""The HTTP contract's request and response bodies (the seed client's shapes)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

THREAD_ID_MAX = 128
_BAD_THREAD_CHARS = re.compile(r"[/\\?#\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_thread_id(value: str) -> str:
    """A thread id is a database key: no path or URL syntax, no control characters."""
    if _BAD_THREAD_CHARS.search(value):
        raise ValueError("must not contain '/', '\\', '?', '#' or control characters")
    if value != value.strip():
        raise ValueError("must not start or end with white space")
    return value


ThreadId = Annotated[
    str,
    Field(max_length=THREAD_ID_MAX, description="Conversation thread; empty starts a new one.",
          examples=["session-5e426240-c770-4997-889d-519ab6153b80"]),
    AfterValidator(check_thread_id),
]


def _limit(info: ValidationInfo) -> int | None:
    context = info.context if isinstance(info.context, dict) else {}
    value = context.get("max_input_chars")
    return value if isinstance(value, int) else None


def check_question(value: str, info: ValidationInfo) -> str:
    """A question must have text and fit the configured length limit."""
    if not value.strip():
        raise ValueError("must not be empty")
    limit = _limit(info)
    if limit is not None and len(value) > limit:
        raise ValueError(f"is {len(value)} characters; the limit is {limit} (MAX_INPUT_CHARS)")
    return value


class InvokeRequest(BaseModel):
    """One question on a thread (used by `/invoke` and `/stream`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"user_input": "@docsearch, how are conversation threads stored?", "thread_id": ""}]})

    user_input: str = Field(description="The user's question. Start it with @docsearch, "
                            "@sqlsearch, @apisearch or @websearch to pick the specialist.")
    thread_id: ThreadId = ""

    _check = field_validator("user_input")(check_question)


class Usage(BaseModel):
    """Tokens the turn's model calls used (routing included), as the model service reported
    them; zeros when it reports none (the offline model)."""

    input_tokens: int = 0
    output_tokens: int = Field(default=0, description="Reasoning tokens included.")
    reasoning_tokens: int = 0
    total_tokens: int = 0


class InvokeResponse(BaseModel):
    """The answer to one question."""

    final_answer: str
    thread_id: str
    run_id: str
    agent: str = Field(default="", description="The specialist that answered.")
    usage: Usage = Field(default_factory=Usage)


class BatchRequest(BaseModel):
    """Several questions: in order on one thread, or concurrently each on a new thread."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"questions": [
        "What is in the README?", "@sqlsearch which state had the most COVID deaths in 2020?"],
        "thread_id": ""}]})

    questions: list[str] = Field(min_length=1, description="Questions, answered in order.")
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

    status: Literal["ok", "error", "timeout"] = Field(
        description="`timeout`: not answered within REQUEST_DEADLINE_SECONDS.")
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


class BatchResponse(BaseModel):
    """Answers in the order asked, with a structured result per question."""

    answers: list[str]
    results: list[BatchItem]
    thread_id: str = Field(description="The shared thread, or empty when each question "
                           "had its own.")


class ThreadMessageOut(BaseModel):
    """One stored message."""

    role: Literal["user", "assistant", "tool", "system"]
    content: str
    agent: str | None = None


class ThreadOut(BaseModel):
    """A stored conversation thread."""

    thread_id: str
    messages: list[ThreadMessageOut]


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


def examples() -> dict[str, Any]:
    """Request examples for the OpenAPI document, by model name."""
    return {m.__name__: m.model_config.get("json_schema_extra", {})
            for m in (InvokeRequest, BatchRequest)}
