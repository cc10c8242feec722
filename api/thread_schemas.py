"""The thread routes' bodies: a thread as `GET /threads/{thread_id}` shows it, a page of the
caller's threads, a new title, and feedback on an answer (`api.threads` serves them)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from api.decisions import InterruptOut
from api.schemas import SURROGATE
from api.text_rules import QUESTION_PATTERN, UNICODE_NOTE, WHITESPACE

TITLE_MAX = 200
COMMENT_MAX = 2000
LIST_LIMIT_DEFAULT = 20  # threads per page of `GET /threads` ...
LIST_LIMIT_MAX = 100  # ... at most
CURSOR_MAX = 4096  # ... and the longest `cursor` it reads
_LINE_BREAKING = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_BAD_TITLE_CHARS = re.compile(f"[{_LINE_BREAKING}]")
# One line of text (no control characters) that is not only white space.
TITLE_PATTERN = f"^[^{_LINE_BREAKING}]*[^{_LINE_BREAKING}{WHITESPACE}][^{_LINE_BREAKING}]*$"


class ToolCallOut(BaseModel):
    """A tool call of an assistant message (`?include=tools`)."""

    id: str
    name: str
    args: dict[str, Any]


class ThreadMessageOut(BaseModel):
    """One message of the conversation: a user's question, or an answer with the specialist
    that gave it. With `?include=tools`, also tool-calling assistant messages (`tool_calls`)
    and tool results (`role` "tool", `tool`, `tool_call_id`); those fields are left out
    otherwise."""

    role: Literal["user", "assistant", "tool", "system"]
    content: str
    agent: str | None = Field(default=None, description="The specialist that answered (or "
                              "that called the tool); null for the user.")
    tool_calls: list[ToolCallOut] | None = None
    tool_call_id: str | None = None
    tool: str | None = Field(default=None, description="The tool whose result this is.")
    run_id: str | None = Field(default=None, description="The turn (run) the message belongs "
                               "to; feedback on an answer names it. Null in threads saved "
                               "before runs were recorded.")
    feedback: FeedbackOut | None = Field(default=None, description="On an answer: the "
                                         "feedback given to it, if any.")


class ActiveRunOut(BaseModel):
    """The run streaming on a thread now: rejoin it with
    `GET /threads/{thread_id}/runs/{run_id}/stream` and `Last-Event-ID`."""

    run_id: str
    last_event_id: int = Field(description="The id of the last event the store has so far.")


class ThreadOut(BaseModel):
    """A stored conversation thread: its questions and answers, in order, its summary, and
    the call its paused run waits for, if one waits."""

    thread_id: str
    title: str = Field(default="", description="The thread's title: its first question, or "
                       "the one set with PATCH.")
    created_at: str | None = Field(default=None, description="When the thread began (ISO "
                                   "8601, UTC); null for threads saved before it was kept.")
    updated_at: str | None = Field(default=None, description="When its last turn ran.")
    active_run: ActiveRunOut | None = Field(default=None, description="The run streaming on "
                                            "the thread now, if any.")
    messages: list[ThreadMessageOut]
    pending: InterruptOut | None = Field(default=None, description="The call waiting for a "
                                         "decision (`resume`); null when none waits.")

    def to_json(self) -> dict[str, Any]:
        """The body: tool fields only on the messages that have them."""
        body = self.model_dump()
        for message in body["messages"]:
            for key in ("tool_calls", "tool_call_id", "tool"):
                if message[key] is None:
                    del message[key]
        return body


class ThreadSummaryOut(BaseModel):
    """One thread of a thread list."""

    thread_id: str
    title: str
    created_at: str | None
    updated_at: str | None


class ThreadList(BaseModel):
    """A page of the caller's threads, newest first."""

    threads: list[ThreadSummaryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on "
                                    "the last.")
    listed: bool = Field(description="False when the server keeps no list for this caller "
                         "(no sign-in: a thread is anyone's who knows its id, so none is "
                         "listed; a client keeps its own list).")


def _check_title(value: str) -> str:
    if not re.search(QUESTION_PATTERN, value):
        raise ValueError("must not be empty")
    if _BAD_TITLE_CHARS.search(value) or SURROGATE.search(value):
        raise ValueError("must be one line of text (no control characters)")
    return value.strip()


class RenameRequest(BaseModel):
    """A thread's new title."""

    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX,
                                json_schema_extra={"pattern": TITLE_PATTERN}),
                     AfterValidator(_check_title)] = Field(
        description=f"1 to {TITLE_MAX} characters on one line.")


class FeedbackRequest(BaseModel):
    """A person's verdict on one answer."""

    score: Literal[1, -1] = Field(description="1: thumbs up; -1: thumbs down.")
    comment: str | None = Field(default=None, max_length=COMMENT_MAX,
                                description=f"Optional, at most {COMMENT_MAX} characters. "
                                + UNICODE_NOTE)


class FeedbackOut(BaseModel):
    """The feedback recorded on one answer."""

    run_id: str
    score: Literal[1, -1]
    comment: str | None = None
