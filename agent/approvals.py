"""Tool calls a person approves before they run (`APPROVE_TOOLS`): which calls wait, and what a
decision on a waiting call can go wrong with.

`APPROVE_TOOLS` names specialists (every call of theirs waits) or tools (`sql_query`); the names
are checked against the bot's specialists and tools when it is built (`approval_policy`), and
an unknown one stops the build with a message listing the valid ones. A run carries its
`RunApprovals` in its config (`configurable[APPROVALS_KEY]`), where the tools node reads it.

How a run pauses and resumes:
- the tools node (`agent.tool_runner`) asks LangGraph's `interrupt()`, once per call that needs
  approval, in call order, before any tool of that round runs; the checkpoint saved when the
  run stops holds the paused step, so any instance can resume it, and re-running the node on
  resume never runs a tool twice (none ran);
- a decision (`agent.turns.Decision`) resumes the run with `Command(resume={interrupt_id:
  ...})` after it was checked against what waits (`agent.paused_turns`): an id that is not the
  waiting call's is `NoSuchPendingCall` (404) or, when it was decided already,
  `AlreadyDecided` (409); edited arguments the tool refuses are `EditRefused` (422) and the
  run stays paused;
- a new question on a paused thread declines every call of the paused step (each gets a tool
  result saying so, kept in the thread) and is answered as usual.

This module imports nothing heavy: the HTTP layer maps `DecisionError` to its status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from agent.specialists import Specialist

# The run config key (`configurable`) holding the run's `RunApprovals`.
APPROVALS_KEY = "approvals"
# Where a tool result records the decision on its call (`ToolMessage.additional_kwargs`).
RECORD_KEY = "approval"

# What the model is told instead of a result, by why the call did not run.
DECLINED = "Not run: the person reviewing this call declined it."
DECLINED_WITH_MESSAGE = DECLINED + " They said: {message}"
NEW_QUESTION = ("Not run: this call waited for a person's approval, and they asked a new "
                "question instead of deciding.")
CANNOT_ASK = ("Not run: this call needs a person's approval, and a conversation without a "
              "thread can't wait for one. Answer without it, and say that it needs approval.")

DecisionKind = Literal["approve", "edit", "reject"]


@dataclass(frozen=True)
class ApprovalPolicy:
    """Which calls wait for a person: those of the specialists or tools in `names`. `tools`
    holds every specialist's tools by name (to check edited arguments against)."""

    names: frozenset[str] = frozenset()
    tools: Mapping[str, Mapping[str, BaseTool]] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        """Whether any call waits for approval."""
        return bool(self.names)

    def needs(self, agent: str, tool: str) -> bool:
        """Whether a call of `tool` by specialist `agent` waits for a person."""
        return agent in self.names or tool in self.names

    def tool(self, agent: str, name: str) -> BaseTool | None:
        """Specialist `agent`'s tool `name`, if it has one."""
        return self.tools.get(agent, {}).get(name)


def approval_policy(names: Sequence[str], specialists: Mapping[str, Specialist]
                    ) -> ApprovalPolicy:
    """The policy for APPROVE_TOOLS `names`; `ValueError` naming the valid names if one is
    neither a specialist that uses tools nor a tool of a configured specialist."""
    with_tools = sorted(name for name, s in specialists.items() if s.uses_tools)
    tools = {name: {t.name: t for t in s.tools} for name, s in specialists.items()}
    tool_names = sorted({tool for by_name in tools.values() for tool in by_name})
    unknown = [name for name in names if name not in with_tools and name not in tool_names]
    if unknown:
        raise ValueError(
            f"APPROVE_TOOLS: {', '.join(map(repr, unknown))} is neither a specialist with "
            f"tools nor a tool of this bot. Valid: the specialists {', '.join(with_tools)}; "
            f"the tools {', '.join(tool_names) or '(none)'}.")
    return ApprovalPolicy(frozenset(names), tools)


@dataclass(frozen=True)
class RunApprovals:
    """What one run's tools node needs to know: the policy, the run's id (kept with what it
    asks), whether it can pause at all (a stateless run has no checkpoint to wait in: its calls
    that need approval are declined), and the call a decision resumes (asked again even if the
    policy changed meanwhile, so the decision applies)."""

    policy: ApprovalPolicy
    run_id: str
    can_pause: bool = True
    resumes: str | None = None  # the tool_call_id of the call this run's decision is for


@dataclass(frozen=True)
class Asked:
    """What a paused run asks a person about one call: the interrupt's value (saved in the
    checkpoint). `decided`: the decisions already taken in the same step, for telling a second
    decision from an unknown id."""

    agent: str
    tool: str
    tool_call_id: str
    args: dict[str, Any]
    run_id: str
    decided: tuple[Mapping[str, str], ...] = ()

    def value(self) -> dict[str, Any]:
        """The interrupt's value (JSON)."""
        return {"agent": self.agent, "tool": self.tool, "tool_call_id": self.tool_call_id,
                "args": self.args, "run_id": self.run_id,
                "decided": [dict(d) for d in self.decided]}

    @classmethod
    def of(cls, value: Any) -> Asked | None:
        """An interrupt's value read back, or None if it is not one of ours."""
        if not isinstance(value, Mapping) or not {"agent", "tool", "tool_call_id",
                                                   "args"} <= value.keys():
            return None
        decided = value.get("decided") or ()
        return cls(agent=str(value["agent"]), tool=str(value["tool"]),
                   tool_call_id=str(value["tool_call_id"]), args=dict(value["args"]),
                   run_id=str(value.get("run_id") or ""),
                   decided=tuple(d for d in decided if isinstance(d, Mapping)))


def record(interrupt_id: str, decision: str, tool_call_id: str, **extra: str
           ) -> dict[str, str]:
    """The record of a decision kept with its call's result (and in later questions of the
    same step): which interrupt, which decision."""
    return {"interrupt_id": interrupt_id, "decision": decision, "tool_call_id": tool_call_id,
            **extra}


def decided_ids(records: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Interrupt id -> the decision taken on it (`new_question` for a call a new question
    declined), from decision records."""
    return {str(r["interrupt_id"]): str(r.get("reason") or r.get("decision") or "")
            for r in records if r.get("interrupt_id")}


# --- what a decision can go wrong with -----------------------------------------------------
class DecisionError(Exception):
    """A decision that can't be applied; `status` is the HTTP status it answers with, `field`
    the request field at fault (if one is)."""

    status = 400
    field: str | None = None


class NoSuchPendingCall(DecisionError):
    """404: no call with this interrupt id waits on the thread (and none ever did)."""

    status = 404
    field = "resume.interrupt_id"

    def __init__(self, thread_id: str, interrupt_id: str, waiting: str | None) -> None:
        now = (f"the call waiting now has interrupt_id {waiting!r}" if waiting
               else "no call waits on it")
        super().__init__(f"No call with interrupt_id {interrupt_id!r} waits for a decision on "
                         f"thread {thread_id!r}; {now}.")


class AlreadyDecided(DecisionError):
    """409: the call with this interrupt id was decided already."""

    status = 409
    field = "resume.interrupt_id"

    def __init__(self, thread_id: str, interrupt_id: str, decision: str) -> None:
        how = "declined by a new question" if decision == "new_question" else decision
        super().__init__(f"The call with interrupt_id {interrupt_id!r} on thread "
                         f"{thread_id!r} was already decided ({how}); a decision is taken "
                         "once.")


class EditRefused(DecisionError):
    """422: the edited arguments are refused by the tool (its schema, or for SQL the guard);
    the call still waits."""

    status = 422
    field = "resume.args"

    def __init__(self, tool: str, why: str) -> None:
        why = why.removeprefix("Refused: ").removeprefix("refused: ").strip()
        end = "" if why.endswith(".") else "."
        super().__init__(f"Edit refused by {tool}: {why}{end} The call still waits for a "
                         "decision.")
