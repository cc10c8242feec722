"""A Starlette `Request` with a whole body, as the Functions HTTP extension hands one to a
trigger: for tests that call `function_app`'s triggers directly."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request


def starlette_request(method: str, path: str, body: bytes = b"", *,
                      path_params: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> Request:
    """A request for `method path` whose body is `body` (JSON unless `headers` say)."""
    sent_headers = {"content-type": "application/json", **(headers or {})}
    scope = {"type": "http", "method": method, "path": path, "query_string": b"",
             "headers": [(k.encode(), v.encode()) for k, v in sent_headers.items()],
             "path_params": path_params or {}}
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)
