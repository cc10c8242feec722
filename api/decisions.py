"""The HTTP shapes of approvals (`APPROVE_TOOLS`, `agent.approvals`): a person's decision on
the tool call a paused run waits for (`ResumeDecision`, the `resume` of `/invoke` and
`/stream`), and the waiting call as the API shows it (`InterruptOut`: the `interrupt` event,
`/invoke`'s and a `/batch` item's `interrupt`, a thread's `pending`).

A decision carries only its own fields, stated in the OpenAPI document as one JSON Schema
variant per decision: `args` with `edit` (required), `message` with `reject` (optional).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from api.text_rules import QUESTION_SCHEMA, UNICODE_NOTE, check_question

if TYPE_CHECKING:
    from agent.events import Interrupt

# A paused call's interrupt id: LangGraph's (an xxh3-128 digest in hex).
INTERRUPT_ID_PATTERN = "^[0-9a-f]{32}$"


def check_interrupt_id(value: str) -> str:
    """An interrupt id as the server hands them out (32 lower-case hex digits)."""
    if not re.fullmatch(INTERRUPT_ID_PATTERN, value):
        raise ValueError("must be the interrupt_id of the waiting call (32 hex digits), as "
                         "the interrupt event or GET /threads/{thread_id} gave it")
    return value


DECISION_VARIANTS: dict[str, tuple[str, ...]] = {"approve": (), "edit": ("args",),
                                                  "reject": ("message",)}


def _decision_schema(schema: dict[str, Any]) -> None:
    """The decision's JSON Schema: one variant per decision, each with only its own fields
    (`args` with edit, required; `message` with reject, optional)."""
    props = schema["properties"]
    variants = []
    for decision, extra in DECISION_VARIANTS.items():
        fields = {"interrupt_id": props["interrupt_id"],
                  "decision": {"const": decision, "type": "string"}}
        for name in extra:
            fields[name] = non_null(props[name])
        variants.append({"type": "object", "additionalProperties": False, "properties": fields,
                         "required": ["interrupt_id", "decision",
                                      *(("args",) if decision == "edit" else ())]})
    schema["oneOf"] = variants


def non_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A property of type `X | None` as X alone (its description and limits kept)."""
    branches = [b for b in prop.get("anyOf", []) if b.get("type") != "null"]
    out = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
    if branches:
        out.update(branches[0])
    return out


class ResumeDecision(BaseModel):
    """A person's decision on the tool call a run paused before (`APPROVE_TOOLS`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_decision_schema)

    interrupt_id: Annotated[str, Field(description="The waiting call's interrupt_id, from the "
                                       "`interrupt` event, the response's `interrupt` or the "
                                       "thread's `pending`.",
                                       json_schema_extra={"pattern": INTERRUPT_ID_PATTERN}),
                            AfterValidator(check_interrupt_id)]
    decision: Literal["approve", "edit", "reject"] = Field(
        description="`approve`: run the call as shown; `edit`: run it with `args` instead "
        "(checked as the tool checks them; refused: 422, the call still waits); `reject`: run "
        "nothing, the model is told the person declined (with `message`).")
    args: dict[str, Any] | None = Field(default=None, description="With `edit` (required): "
                                        "the call's new arguments, all of them.")
    message: str | None = Field(default=None, description="With `reject` (optional): told to "
                                "the model. Not only white space, at most MAX_INPUT_CHARS "
                                "characters. " + UNICODE_NOTE, json_schema_extra=QUESTION_SCHEMA)

    @field_validator("message")
    @classmethod
    def _check_message(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_question(value, info)

    @model_validator(mode="after")
    def _fields_of_decision(self) -> ResumeDecision:
        given = self.model_fields_set
        if self.decision == "edit" and self.args is None:
            raise ValueError("args is required with decision 'edit' (the call's new arguments)")
        for name in ("args", "message"):
            if name in given and name not in DECISION_VARIANTS[self.decision]:
                raise ValueError(f"{name} is not taken with decision '{self.decision}'")
        if "message" in given and self.message is None:
            raise ValueError("message must be a string (or left out)")
        return self


class InterruptOut(BaseModel):
    """A tool call waiting for a person's decision (`APPROVE_TOOLS`): the run paused before
    it. Decide with `resume` on `/invoke` or `/stream`."""

    model_config = ConfigDict(extra="forbid")

    run_id: str = Field(description="The run that paused.")
    thread_id: str
    interrupt_id: str = Field(description="Send it back in `resume.interrupt_id`.",
                              json_schema_extra={"pattern": INTERRUPT_ID_PATTERN})
    agent: str = Field(description="The specialist that made the call.")
    tool: str
    tool_call_id: str
    args: dict[str, Any] = Field(description="The call's arguments as the tool will run them "
                                 "(for `sql_query`, the statement as the SQL guard runs it).")

    @classmethod
    def of(cls, interrupt: Interrupt, run_id: str, thread_id: str) -> InterruptOut:
        """A paused call (`agent.events.Interrupt`) as the API shows it."""
        return cls(run_id=run_id, thread_id=thread_id, interrupt_id=interrupt.interrupt_id,
                   agent=interrupt.agent, tool=interrupt.tool,
                   tool_call_id=interrupt.tool_call_id, args=interrupt.args)
