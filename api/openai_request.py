"""An OpenAI Chat Completions request, as this bot takes it: which parameters it uses, which it
accepts and ignores, which it refuses, and how `messages` becomes a question and its context.

Each parameter is in exactly one table below, and the OpenAPI document is built from the same
tables (`request_schema`):

- **used**: `model`, `messages`, `stream`, `stream_options.include_usage`, `metadata.thread_id`;
- **accepted and ignored** (`IGNORED`): sampling and bookkeeping knobs that change neither the
  number, the length limit nor the format of the answer (`temperature`, `top_p`, penalties,
  `seed`, `user`, ...). They are type-checked, then have no effect: the bot's own model
  settings apply;
- **refused unless neutral** (`REFUSED`): what the bot can't honour (`n` > 1, client `tools`,
  `response_format` other than text, `logprobs`, `stop`, `max_tokens`, audio, ...): 400 naming
  the parameter, never silently dropped; their neutral values (`n: 1`, `tools: []`,
  `logprobs: false`, ...) are accepted;
- anything else: 400 "Unrecognized request argument", as OpenAI answers.

`messages`: `system`/`developer` messages are accepted and not used (the specialists have their
own instructions); `user` and `assistant` messages carry text (a string or `text` parts); the
last message must be the user's: it is the question, and the earlier user and assistant
messages are the conversation so far. Tool messages, tool calls and non-text parts are refused.
A thread is named by the `X-Thread-Id` header or `metadata.thread_id` (the two must agree);
then the thread is the conversation and only the last message is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.turns import Role
from api.schemas import THREAD_ID_MAX, THREAD_ID_PATTERN, check_named_thread_id
from api.text_rules import check_question_text

THREAD_HEADER = "x-thread-id"
THREAD_METADATA_KEY = "thread_id"
MAX_METADATA_PAIRS = 16


class RequestProblem(Exception):
    """A request the client must change: OpenAI's 400 `invalid_request_error` with `param`."""

    def __init__(self, param: str | None, message: str, code: str = "invalid_value",
                 status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.message = message
        self.code = code
        self.status = status


@dataclass(frozen=True)
class ChatRequest:
    """What the bot does with a valid request."""

    model: str
    question: str
    history: tuple[tuple[Role, str], ...]
    thread_id: str | None
    stream: bool
    include_usage: bool


def _number(low: float, high: float) -> tuple[Callable[[Any], bool], dict[str, Any], str]:
    def check(value: Any) -> bool:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and low <= value <= high)

    return check, {"type": "number", "minimum": low, "maximum": high}, \
        f"must be a number from {low:g} to {high:g}"


def _typed(kind: type, schema_type: str) -> tuple[Callable[[Any], bool], dict[str, Any], str]:
    def check(value: Any) -> bool:
        return isinstance(value, kind) and not (kind is int and isinstance(value, bool))

    return check, {"type": schema_type}, f"must be a {schema_type}"


# Accepted and ignored: (type check, JSON Schema, message); null is always accepted.
IGNORED: dict[str, tuple[Callable[[Any], bool], dict[str, Any], str]] = {
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "frequency_penalty": _number(-2, 2),
    "presence_penalty": _number(-2, 2),
    "seed": _typed(int, "integer"),
    "user": _typed(str, "string"),
    "safety_identifier": _typed(str, "string"),
    "prompt_cache_key": _typed(str, "string"),
    "prompt_cache_retention": _typed(str, "string"),
    "service_tier": _typed(str, "string"),
    "reasoning_effort": _typed(str, "string"),
    "verbosity": _typed(str, "string"),
    "parallel_tool_calls": _typed(bool, "boolean"),
}

_NO_TOOLS = ("the bot answers with its own tools; client-side tools (function calling) are "
             "not supported")
# Refused unless neutral: (is the value neutral, the neutral values, why it is refused).
REFUSED: dict[str, tuple[Callable[[Any], bool], list[Any], str]] = {
    "n": (lambda v: v == 1 and not isinstance(v, bool), [1],
          "the bot gives one answer per request"),
    "tools": (lambda v: v == [], [[]], _NO_TOOLS),
    "functions": (lambda v: v == [], [[]], _NO_TOOLS),
    "tool_choice": (lambda v: v in ("none", "auto"), ["none", "auto"], _NO_TOOLS),
    "function_call": (lambda v: v in ("none", "auto"), ["none", "auto"], _NO_TOOLS),
    "response_format": (lambda v: v == {"type": "text"}, [{"type": "text"}],
                        "the answer is Markdown text with citations; JSON output is not "
                        "supported"),
    "logprobs": (lambda v: v is False, [False], "log probabilities are not available"),
    "top_logprobs": (lambda v: v == 0 and not isinstance(v, bool), [0],
                     "log probabilities are not available"),
    "logit_bias": (lambda v: v == {}, [{}], "token biases are not supported"),
    "stop": (lambda v: v in ("", []), ["", []], "stop sequences are not supported"),
    "max_tokens": (lambda v: False, [], "the answer's length can't be capped"),
    "max_completion_tokens": (lambda v: False, [], "the answer's length can't be capped"),
    "modalities": (lambda v: v == ["text"], [["text"]], "the bot answers in text only"),
    "audio": (lambda v: False, [], "the bot answers in text only"),
    "prediction": (lambda v: False, [], "predicted outputs are not supported"),
    "web_search_options": (lambda v: False, [], "web search is the @websearch specialist's "
                           "(model smartbot-websearch), not a request option"),
    "store": (lambda v: v is False, [False], "completions are not stored for later retrieval"),
}
USED = ("model", "messages", "stream", "stream_options", "metadata")
MESSAGE_KEYS = {"system": {"role", "content", "name"}, "developer": {"role", "content", "name"},
                "user": {"role", "content", "name"},
                "assistant": {"role", "content", "name", "refusal"}}
REFUSED_MESSAGE_KEYS = {"tool_calls": _NO_TOOLS, "function_call": _NO_TOOLS,
                        "audio": "the bot answers in text only"}


def _check_parameters(data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if key in USED:
            continue
        if key in IGNORED:
            check, _, message = IGNORED[key]
            if value is not None and not check(value):
                raise RequestProblem(key, f"{key}: {message}.")
        elif key in REFUSED:
            neutral, _, why = REFUSED[key]
            if value is not None and not neutral(value):
                raise RequestProblem(key, f"{key} is not supported: {why}. Leave it out.",
                                     "unsupported_parameter")
        else:
            raise RequestProblem(key, f"Unrecognized request argument supplied: {key}",
                                 "unknown_parameter")


def _text(content: Any, param: str, role: str) -> str:
    """The text of a message's content: a string, or a list of `text` parts."""
    if isinstance(content, str):
        return content
    if content is None and role == "assistant":
        return ""
    if not isinstance(content, list):
        raise RequestProblem(param, f"{param}: must be a string or a list of text parts.")
    texts: list[str] = []
    for index, part in enumerate(content):
        where = f"{param}[{index}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise RequestProblem(where, f"{where}: must be an object with a 'type'.")
        if part["type"] != "text":
            raise RequestProblem(f"{where}.type", f"{where}.type: only text is understood "
                                 f"(got {part['type']!r}).", "unsupported_content")
        if set(part) - {"type", "text"} or not isinstance(part.get("text"), str):
            raise RequestProblem(where, f"{where}: a text part is {{'type': 'text', "
                                 "'text': string}.")
        texts.append(part["text"])
    return "\n".join(texts)


def _messages(value: Any) -> list[tuple[str, str]]:
    """(role, text) of each message, checked."""
    if not isinstance(value, list) or not value:
        raise RequestProblem("messages", "messages: must be a non-empty list of messages.")
    out: list[tuple[str, str]] = []
    for index, message in enumerate(value):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise RequestProblem(where, f"{where}: must be an object.")
        role = message.get("role")
        if role in ("tool", "function"):
            raise RequestProblem(f"{where}.role", f"{where}.role: {role!r} messages are not "
                                 f"accepted: {_NO_TOOLS}.", "unsupported_content")
        if role not in MESSAGE_KEYS:
            raise RequestProblem(f"{where}.role", f"{where}.role: must be one of "
                                 f"{', '.join(MESSAGE_KEYS)}.")
        for key in message:
            if key in REFUSED_MESSAGE_KEYS and message[key] is not None:
                raise RequestProblem(f"{where}.{key}", f"{where}.{key} is not supported: "
                                     f"{REFUSED_MESSAGE_KEYS[key]}.", "unsupported_content")
            if key not in MESSAGE_KEYS[role] and key not in REFUSED_MESSAGE_KEYS:
                raise RequestProblem(f"{where}.{key}", f"Unrecognized request argument "
                                     f"supplied: {where}.{key}", "unknown_parameter")
        if "content" not in message and role != "assistant":
            raise RequestProblem(f"{where}.content", f"{where}.content: is required.")
        name = message.get("name")
        if name is not None and not isinstance(name, str):
            raise RequestProblem(f"{where}.name", f"{where}.name: must be a string.")
        out.append((role, _text(message.get("content"), f"{where}.content", role)))
    return out


def _thread_id(data: Mapping[str, Any], header: str | None) -> str | None:
    metadata = data.get("metadata")
    if metadata is not None and (not isinstance(metadata, dict) or not all(
            isinstance(v, str) for v in metadata.values())):
        raise RequestProblem("metadata", "metadata: must be an object of string values.")
    if metadata is not None and len(metadata) > MAX_METADATA_PAIRS:
        raise RequestProblem("metadata", f"metadata: at most {MAX_METADATA_PAIRS} pairs.")
    named = (metadata or {}).get(THREAD_METADATA_KEY)
    if header is not None and named is not None and header != named:
        raise RequestProblem("metadata.thread_id", "metadata.thread_id and the X-Thread-Id "
                             "header name different threads; send one, or the same in both.")
    thread_id = header if header is not None else named
    if thread_id is None:
        return None
    param = "X-Thread-Id" if header is not None else "metadata.thread_id"
    try:
        return check_named_thread_id(thread_id)
    except ValueError as exc:
        raise RequestProblem(param, f"{param}: {exc}.") from None


def parse_chat_request(data: Any, thread_header: str | None,
                       max_input_chars: int) -> ChatRequest:
    """The request's meaning, or `RequestProblem` naming what to change."""
    if not isinstance(data, dict):
        raise RequestProblem(None, "The body must be a JSON object (a chat completion request).")
    for key in ("model", "messages"):
        if key not in data:
            raise RequestProblem(key, f"Missing required parameter: '{key}'.", "missing_required")
    if not isinstance(data["model"], str):
        raise RequestProblem("model", "model: must be a string.")
    _check_parameters(data)
    stream = data.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise RequestProblem("stream", "stream: must be a boolean.")
    options = data.get("stream_options")
    if options is not None:
        if not stream:
            raise RequestProblem("stream_options", "stream_options: only allowed when stream "
                                 "is true.")
        if not isinstance(options, dict):
            raise RequestProblem("stream_options", "stream_options: must be an object.")
        for key, value in options.items():
            if key not in ("include_usage", "include_obfuscation"):
                raise RequestProblem(f"stream_options.{key}", "Unrecognized request argument "
                                     f"supplied: stream_options.{key}", "unknown_parameter")
            if value is not None and not isinstance(value, bool):
                raise RequestProblem(f"stream_options.{key}", f"stream_options.{key}: must be "
                                     "a boolean.")
    messages = _messages(data["messages"])
    thread_id = _thread_id(data, thread_header)
    role, question = messages[-1]
    last = f"messages[{len(messages) - 1}]"
    if role != "user":
        raise RequestProblem(f"{last}.role", f"{last}.role: the last message must be the "
                             f"user's question (got {role!r}).")
    try:
        check_question_text(question, max_input_chars)
    except ValueError as exc:
        raise RequestProblem(f"{last}.content", f"{last}.content: the question {exc}.") from None
    history: tuple[tuple[Role, str], ...] = () if thread_id is not None else tuple(
        ("user" if r == "user" else "assistant", text) for r, text in messages[:-1]
        if r in ("user", "assistant") and text)
    return ChatRequest(model=data["model"], question=question, history=history,
                       thread_id=thread_id, stream=bool(stream),
                       include_usage=bool((options or {}).get("include_usage")))


def request_schema() -> dict[str, Any]:
    """The request as JSON Schema (for the OpenAPI document), from the tables above."""
    text_part = {"type": "object", "required": ["type", "text"], "additionalProperties": False,
                 "properties": {"type": {"const": "text"}, "text": {"type": "string"}}}
    content = {"oneOf": [{"type": "string"}, {"type": "array", "items": text_part}]}
    message = {"type": "object", "required": ["role"], "properties": {
        "role": {"enum": list(MESSAGE_KEYS)}, "content": content, "name": {"type": "string"},
        "refusal": {"type": "string"}},
        "description": "The last message is the user's question. system and developer "
                       "messages are accepted and not used."}
    properties: dict[str, Any] = {
        "model": {"type": "string", "description": "smartbot (the supervisor chooses the "
                  "specialist) or smartbot-<specialist>; GET /v1/models lists them."},
        "messages": {"type": "array", "minItems": 1, "items": message},
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {"type": ["object", "null"], "additionalProperties": False,
                           "properties": {"include_usage": {"type": "boolean"},
                                          "include_obfuscation": {"type": "boolean"}}},
        "metadata": {"type": ["object", "null"], "maxProperties": MAX_METADATA_PAIRS,
                     "additionalProperties": {"type": "string"},
                     "properties": {THREAD_METADATA_KEY: {
                         "type": "string", "minLength": 1, "maxLength": THREAD_ID_MAX,
                         "pattern": THREAD_ID_PATTERN,
                         "description": "Continue this thread (the thread is the "
                                        "conversation; only the last message is read)."}}},
    }
    for key, (_, schema, _) in IGNORED.items():
        properties[key] = {**schema, "description": "Accepted and ignored."}
    for key, (_, neutral, why) in REFUSED.items():
        properties[key] = {"enum": [None, *neutral],
                           "description": f"Refused (400) unless null or neutral: {why}."}
    return {"title": "ChatCompletionRequest", "type": "object",
            "required": ["model", "messages"], "additionalProperties": False,
            "properties": properties,
            "description": "OpenAI Chat Completions request. Parameters not listed are "
                           "refused (400)."}
