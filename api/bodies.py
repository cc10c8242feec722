"""Reading a request's JSON body strictly, with clear 4xx answers that name the field to fix.

A JSON body is read and checked in this order, each step with its own answer:

1. `Content-Type` must be `application/json`, optionally with `charset=utf-8` (415 otherwise,
   so cross-site "simple requests" with `text/plain` bodies never reach a handler);
2. the body must fit the size limit (413), also when it is streamed without a length;
3. it must be JSON (400): no `NaN`/`Infinity`, numbers of at most `MAX_NUMBER_DIGITS` digits
   (integers and floats alike, a float's exponent included) and finite (`1e999` is refused),
   nesting the parser can follow; a UTF-8 byte order mark is ignored;
4. every string and key must be valid Unicode: bytes that are not UTF-8 and unpaired UTF-16
   surrogates (`"\\ud800"`) are refused (422) naming the field, as are duplicate keys;
5. the model's own rules (422), with messages in our words, each naming its field.

A client that disconnects while sending the body is logged once, without a traceback.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from email.message import Message
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from starlette.requests import ClientDisconnect, Request

from api.problems import Problem, field_problem
from api.schemas import SURROGATE, ErrorItem

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

JSON_MEDIA_TYPE = "application/json"
CHARSETS = frozenset({"utf-8", "utf8"})
MAX_NUMBER_DIGITS = 100


class _BadJSON(ValueError):
    """Raised from the JSON parser's hooks with a message for the client."""

    def __init__(self, message: str, status_code: int = 400, field: str = "body") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.field = field


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


# Pydantic's wording for the errors our models can raise, replaced by ours.
_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be a list of strings",
    "string_too_long": "must be at most {max_length} characters",
    "too_short": "must have at least {min_length} item",
    "too_long": "must have at most {max_length} items",
    "extra_forbidden": "is not a field here",
}


def _message(error: ErrorDetails) -> str:
    template = _MESSAGES.get(error["type"])
    if template is not None:
        return template.format(**error.get("ctx", {}))
    return str(error["msg"]).removeprefix("Value error, ")


def _item(error: ErrorDetails) -> ErrorItem:
    """One validation error as a field and a message; a rule over several fields (a model's
    own check, with no location) names its field as `field: message`."""
    message = _message(error)
    if not error["loc"] and ": " in message:
        field, _, rest = message.partition(": ")
        if field.isidentifier():
            return ErrorItem(field=field, message=rest)
    return ErrorItem(field=_field(error["loc"]), message=message)


def check_content_type(request: Request) -> None:
    """Refuse (415) a body that isn't declared as UTF-8 JSON."""
    declared = request.headers.get("content-type", "")
    header = Message()
    header["content-type"] = declared
    charset = str(header.get_param("charset", "utf-8")).lower()
    if declared and header.get_content_type() == JSON_MEDIA_TYPE and charset in CHARSETS:
        return
    got = f"got {declared!r}" if declared else "none was sent"
    raise Problem(415, f"Content-Type must be {JSON_MEDIA_TYPE} (optionally with "
                          f"'; charset=utf-8'); {got}. Send the body as UTF-8 JSON.")


def check_path_utf8(request: Request, field: str) -> None:
    """Refuse (422) a path whose percent-escapes aren't UTF-8 (servers decode them lossily)."""
    raw = request.scope.get("raw_path")
    if not isinstance(raw, bytes):
        return  # the host decoded the path already; check_thread_id still refuses surrogates
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise Problem(422, f"{field}: is not valid UTF-8 once percent-decoded; send UTF-8 "
                           "text", [ErrorItem(field=field, message="is not valid UTF-8")]
                      ) from None


def _too_large(size: int | str, max_bytes: int) -> Problem:
    return Problem(413, f"Request body is {size} bytes; the limit is {max_bytes}.")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refusing it (413) by its Content-Length or as soon as it grows too large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(declared, max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(f"over {max_bytes}", max_bytes)
            chunks.append(chunk)
    except ClientDisconnect:
        # Nobody is left to answer; one line, no traceback (anyone could flood the log).
        log.info("%s %s: the client went away while sending the body (%d bytes received)",
                 request.method, request.url.path, size)
        raise Problem(400, "The client disconnected before sending the whole body.") from None
    return b"".join(chunks)


def _check_digits(literal: str) -> None:
    digits = sum(c.isdigit() for c in literal)
    if digits > MAX_NUMBER_DIGITS:
        raise _BadJSON(f"a number has {digits} digits; numbers may have at most "
                       f"{MAX_NUMBER_DIGITS}")


def _parse_int(literal: str) -> int:
    _check_digits(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    _check_digits(literal)
    value = float(literal)
    if not math.isfinite(value):
        raise _BadJSON(f"the number {literal} is out of range")
    return value


def _parse_constant(name: str) -> Any:
    raise _BadJSON(f"{name} is not a JSON value (JSON has no NaN or Infinity)")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _BadJSON("appears more than once in the same object; send each key once",
                           status_code=422, field=key)
        out[key] = value
    return out


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float,
                          parse_constant=_parse_constant,
                          object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise _BadJSON(f"{exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except RecursionError:
        raise _BadJSON("it is nested too deeply") from None


def _bad_strings(value: Any, path: tuple[int | str, ...] = ()) -> Iterator[tuple[str, bool]]:
    """(field, is_key) for each string or key holding a surrogate, depth first."""
    if isinstance(value, str):
        if SURROGATE.search(value):
            yield _field(path), False
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_strings(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            if SURROGATE.search(key):
                yield _field((*path, key)), True
            yield from _bad_strings(item, (*path, key))


def decode_json(body: bytes) -> Any:
    """The body parsed as strict UTF-8 JSON, or `Problem` saying what is wrong where."""
    body = body.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM: RFC 8259 lets parsers ignore it
    try:
        text, raw_bytes_ok = body.decode("utf-8"), True
    except UnicodeDecodeError as exc:
        # Keep going with the bad bytes as lone surrogates, to say which field holds them.
        text, raw_bytes_ok = body.decode("utf-8", "surrogateescape"), False
        position = exc.start
    try:
        data = _loads(text)
    except _BadJSON as exc:
        if exc.status_code == 422:
            raise field_problem(422, exc.field, str(exc)) from None
        if not raw_bytes_ok:
            raise Problem(400, f"Request body is not UTF-8 text (an invalid byte at offset "
                                  f"{position}); send JSON encoded as UTF-8.") from None
        raise Problem(400, f"Request body is not valid JSON: {exc}.") from None
    bad = list(_bad_strings(data))
    if bad:
        what = ("bytes that are not valid UTF-8" if not raw_bytes_ok
                else "an unpaired UTF-16 surrogate escape such as \\ud800")
        items = [ErrorItem(field=field, message=f"{'key ' if is_key else ''}contains {what}; "
                           "send valid Unicode text") for field, is_key in bad]
        raise Problem(422, "; ".join(f"{i.field}: {i.message}" for i in items), items)
    return data


def body_limit(max_input_chars: int, max_batch_questions: int) -> int:
    """The largest body the API reads: a batch of questions at their longest, as UTF-8 (at
    most 4 bytes a character), with room for the JSON around them."""
    return 4 * max_input_chars * max_batch_questions + 4096


async def read_json(request: Request, max_bytes: int) -> tuple[bytes, Any]:
    """The body and what it holds as strict UTF-8 JSON; or a `Problem`: 415 for another
    content type, 413 over `max_bytes`, 400 for what isn't JSON, 422 for invalid Unicode or
    repeated keys."""
    check_content_type(request)
    body = await read_body(request, max_bytes)
    return body, decode_json(body)


async def parse_body(request: Request, model: type[M], max_bytes: int,
                     context: dict[str, Any]) -> M:
    """Read and validate a JSON body, or raise `Problem` saying what to fix."""
    _, data = await read_json(request, max_bytes)
    if not isinstance(data, dict):
        raise Problem(422, f"Request body must be a JSON object like {model.__name__}.")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        items = [_item(e) for e in exc.errors()]
        detail = "; ".join(f"{i.field}: {i.message}" for i in items)
        raise Problem(422, detail, items) from None
