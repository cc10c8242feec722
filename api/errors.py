"""Turning bad requests into clear 4xx answers that name the field to fix."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from api.models import ErrorItem, ErrorResponse

M = TypeVar("M", bound=BaseModel)


class BadRequest(Exception):
    """A request the client must change; carries the response to send."""

    def __init__(self, status_code: int, detail: str, errors: list[ErrorItem] | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.body = ErrorResponse(detail=detail, errors=errors or [])

    def response(self) -> JSONResponse:
        """The JSON error response."""
        return JSONResponse(self.body.model_dump(), status_code=self.status_code)


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def _message(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def _too_large(size: int | str, max_bytes: int) -> BadRequest:
    return BadRequest(413, f"Request body is {size} bytes; the limit is {max_bytes}.")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The body, refusing it (413) by its Content-Length or as soon as it grows too large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(declared, max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(f"over {max_bytes}", max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(request: Request, model: type[M], max_bytes: int,
                     context: dict[str, Any]) -> M:
    """Read and validate a JSON body, or raise `BadRequest` saying what to fix."""
    body = await read_body(request, max_bytes)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise BadRequest(400, f"Request body is not valid JSON: {reason}") from None
    if not isinstance(data, dict):
        raise BadRequest(422, f"Request body must be a JSON object like {model.__name__}.")
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        items = [ErrorItem(field=_field(e["loc"]), message=_message(e)) for e in exc.errors()]
        detail = "; ".join(f"{i.field}: {i.message}" for i in items)
        raise BadRequest(422, detail, items) from None
