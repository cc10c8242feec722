"""What Azure OpenAI refuses in a chat-completions body, with its status and error body.

- By the deployment's kind: a *reasoning* deployment (gpt-5 family, o-series) refuses
  `temperature`/`top_p` other than 1, penalties, `logprobs`, `logit_bias`, `max_tokens` and
  `parallel_tool_calls`; a *classic* one (gpt-4.1) refuses `reasoning_effort`.
- By the model behind a reasoning deployment, when the stand-in is told which it is
  (`REASONING_MODELS`): the `reasoning_effort` values that model takes, and whether it takes one
  next to function tools on `/chat/completions` (gpt-5.2, 5.4 and 5.5 refuse any but `none`;
  gpt-5.6 needs an explicit `none`). Sources: Microsoft's `ReasoningEffort` reference (gpt-5.1
  takes none/low/medium/high; earlier models no `none`; gpt-5-pro only high; `xhigh` after
  gpt-5.1-codex-max) and the errors reported against OpenAI's API and Azure deployments
  ("Function tools with reasoning_effort are not supported for gpt-5.4 in
  /v1/chat/completions. Please use /v1/responses instead.").
- Any deployment: more than 128 tools, a `tool_choice` without tools or naming an undeclared
  tool, `stream_options` without `stream`, and message histories where a tool call has no tool
  message or a tool message answers no call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["reasoning", "classic"]
MAX_TOOLS = 128
REASONING_EFFORTS = {"none", "minimal", "low", "medium", "high", "xhigh"}


class Refused(Exception):
    """A request the service refuses: the status, the `error` object and headers."""

    def __init__(self, status: int, error: dict[str, Any],
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error.get("message"))
        self.status, self.error, self.headers = status, error, headers or {}


def invalid(message: str, param: str | None, code: str | None) -> Refused:
    """A 400 `invalid_request_error`."""
    return Refused(400, {"message": message, "type": "invalid_request_error", "param": param,
                         "code": code})


@dataclass(frozen=True)
class EffortRule:
    """The `reasoning_effort` values a model takes, and what it takes next to tools."""

    accepted: tuple[str, ...]
    tools: Literal["any", "none_or_absent", "explicit_none"] = "any"


_GPT_5_2_ON = ("none", "low", "medium", "high", "xhigh")
# Longest prefix first: the first that a model name starts with applies.
REASONING_MODELS: tuple[tuple[str, EffortRule], ...] = (
    ("gpt-5-pro", EffortRule(("high",))),
    ("gpt-5.1", EffortRule(("none", "low", "medium", "high"))),
    ("gpt-5.2", EffortRule(_GPT_5_2_ON, tools="none_or_absent")),
    ("gpt-5.4", EffortRule(_GPT_5_2_ON, tools="none_or_absent")),
    ("gpt-5.5", EffortRule(_GPT_5_2_ON, tools="none_or_absent")),
    ("gpt-5.6", EffortRule(_GPT_5_2_ON, tools="explicit_none")),
    ("gpt-5", EffortRule(("minimal", "low", "medium", "high"))),
    ("o1", EffortRule(("low", "medium", "high"))),
    ("o3", EffortRule(("low", "medium", "high"))),
    ("o4", EffortRule(("low", "medium", "high"))),
)


def effort_rule(model: str | None) -> EffortRule | None:
    """The rule of a known model, or None (then any known value is taken)."""
    for prefix, rule in REASONING_MODELS:
        if model and model.startswith(prefix):
            return rule
    return None


def _listed(values: tuple[str, ...]) -> str:
    quoted = [f"'{v}'" for v in values]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def check_body(body: dict[str, Any], kind: Kind, model: str | None = None) -> None:
    """Raise `Refused` as Azure would for this body on a deployment of this kind (and model)."""
    if kind == "reasoning":
        _check_reasoning_params(body)
        _check_effort(body, model)
    elif "reasoning_effort" in body:
        raise invalid("Unrecognized request argument supplied: reasoning_effort",
                      "reasoning_effort", "unsupported_parameter")
    if body.get("stream_options") is not None and not body.get("stream"):
        raise invalid("The 'stream_options' parameter is only allowed when 'stream' is "
                      "enabled.", "stream_options", None)
    _check_tools(body)
    check_messages(body.get("messages"))


def _check_effort(body: dict[str, Any], model: str | None) -> None:
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise invalid(f"Invalid value: '{effort}'. Supported values are: 'none', 'minimal', "
                      "'low', 'medium', 'high', and 'xhigh'.", "reasoning_effort",
                      "invalid_value")
    rule = effort_rule(model)
    if rule is None:
        return
    if effort is not None and effort not in rule.accepted:
        raise invalid(f"Unsupported value: 'reasoning_effort' does not support '{effort}' with "
                      f"this model. Supported values are: {_listed(rule.accepted)}.",
                      "reasoning_effort", "unsupported_value")
    if not body.get("tools") or rule.tools == "any" or effort == "none":
        return
    if rule.tools == "explicit_none":
        raise invalid(f"Function tools with reasoning_effort are not supported for {model} in "
                      "/v1/chat/completions. To use function tools, use /v1/responses or set "
                      "reasoning_effort to 'none'.", "reasoning_effort", None)
    if effort is not None:
        raise invalid(f"Function tools with reasoning_effort are not supported for {model} in "
                      "/v1/chat/completions. Please use /v1/responses instead.",
                      "reasoning_effort", None)


def _check_reasoning_params(body: dict[str, Any]) -> None:
    for name, default in (("temperature", 1), ("top_p", 1)):
        if name in body and body[name] != default:
            raise invalid(f"Unsupported value: '{name}' does not support {body[name]} with "
                          f"this model. Only the default ({default}) value is supported.", name,
                          "unsupported_value")
    for name in ("presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
                 "logit_bias", "parallel_tool_calls"):
        if name in body:
            raise invalid(f"Unsupported parameter: '{name}' is not supported with this model.",
                          name, "unsupported_parameter")
    if "max_tokens" in body:
        raise invalid("Unsupported parameter: 'max_tokens' is not supported with this model. "
                      "Use 'max_completion_tokens' instead.", "max_tokens",
                      "unsupported_parameter")


def _check_tools(body: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is not None and len(tools) > MAX_TOOLS:
        raise invalid(f"Invalid 'tools': array too long. Expected an array with maximum length "
                      f"{MAX_TOOLS}, but got an array with length {len(tools)} instead.",
                      "tools", "array_above_max_length")
    choice = body.get("tool_choice")
    if choice is not None and not tools:
        raise invalid("Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                      "'tools' are specified.", "tool_choice", None)
    if isinstance(choice, dict):
        names = {t["function"]["name"] for t in tools or []}
        if choice.get("function", {}).get("name") not in names:
            raise invalid("Invalid value for 'tool_choice': the function is not among "
                          "'tools'.", "tool_choice", None)


def check_messages(messages: Any) -> None:
    """Every tool call answered by a tool message right after it; no stray tool messages."""
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty array.", "messages", None)
    pending: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            if message.get("tool_call_id") not in pending:
                raise invalid("Invalid parameter: messages with role 'tool' must be a response "
                              "to a preceeding message with 'tool_calls'.",
                              f"messages.[{index}].role", None)
            pending.remove(message["tool_call_id"])
            continue
        if pending:
            raise invalid("An assistant message with 'tool_calls' must be followed by tool "
                          "messages responding to each 'tool_call_id'. The following "
                          f"tool_call_ids did not have response messages: {', '.join(pending)}",
                          f"messages.[{index}].role", None)
        if role == "assistant":
            pending = [call["id"] for call in message.get("tool_calls") or []]
    if pending:
        raise invalid("An assistant message with 'tool_calls' must be followed by tool "
                      "messages responding to each 'tool_call_id'.", "messages", None)
