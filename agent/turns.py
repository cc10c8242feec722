"""What a caller asks of one turn: `TurnRequest` (a question, a decision on a paused tool call,
or a regenerated answer, on a thread or stateless) and `Decision`.

Every way in (the API's `/invoke`, `/stream` and `/batch`, the OpenAI-compatible, MCP and
AG-UI protocols) builds one `TurnRequest` and hands it to `agent.bot.Bot.run` or `Bot.answer`.
What a turn request may find wrong with its thread (`NothingToRegenerate`, `AnswerNotFound`)
is here too. This module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from agent.approvals import DecisionKind
from agent.ownership import Owner

Role = Literal["user", "assistant"]
# The run config key (`configurable`) that forces the turn's specialist.
SPECIALIST_KEY = "specialist"


@dataclass(frozen=True)
class Decision:
    """A person's decision on a tool call that waits for approval (`APPROVE_TOOLS`)."""

    interrupt_id: str
    decision: DecisionKind
    args: dict[str, Any] | None = None  # with `edit`: the call's new arguments
    message: str | None = None  # with `reject`: told to the model


@dataclass(frozen=True)
class TurnRequest:
    """One turn: on `thread_id` (or none, `stateless`), for `owner` (the signed-in caller,
    None without sign-in), with run id `run_id`."""

    thread_id: str
    run_id: str
    question: str | None = None  # None when resuming or regenerating
    owner: Owner | None = None
    specialist: str | None = None  # answer with this specialist, as an @mention does
    resume: Decision | None = None  # continue a paused turn with this decision
    regenerate: bool = False  # answer the thread's last question again, replacing the answer
    history: tuple[tuple[Role, str], ...] = ()  # stateless: the conversation before question
    stateless: bool = False  # run on `history` alone: no thread is read or written
    # False for a caller with no way to show a call waiting for approval (APPROVE_TOOLS):
    # such a call is then declined, and the model told it needs a person's approval.
    can_pause: bool = True


class NothingToRegenerate(LookupError):
    """`regenerate` on a thread that has no question yet."""

    def __init__(self, thread_id: str) -> None:
        super().__init__(f"Thread {thread_id!r} has no question to answer again.")
        self.thread_id = thread_id


class AnswerNotFound(LookupError):
    """Feedback on a run that gave no answer in the thread."""

    def __init__(self, thread_id: str, run_id: str) -> None:
        super().__init__(f"Thread {thread_id!r} has no answer of run {run_id!r}.")
        self.thread_id, self.run_id = thread_id, run_id
