"""What an apisearch path parameter may be: one path segment, even on a server that decodes it.

A value the model gives for `{symbol}` in `/assets/{symbol}` is refused if it could leave its
segment on a server that percent-decodes it before routing, once or again: `.` or `..` (or an
empty value), `/` or `\\`, control characters, in any percent-encoded form (`%2F`, `%252F`,
`%2e%2e`, `%5C`) or Unicode compatibility form (`／`, `．．`, which NFKC makes `/` and `..`),
percent-encoding that doesn't decode to UTF-8 (`%C0%AF`, an overlong `/`), and more than
`PATH_DECODINGS - 1` layers of encoding. What passes is percent-encoded as one segment, so `?`,
`#` and `%` can't change the path or the query either. The check runs in the tool's args model
(`path_check`), so a call is refused before any request, and again where the URL is built.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

from agent.tools.calls import ToolCallRefused

PATH_DECODINGS = 4  # percent-decodings of a path parameter checked; more layers are refused


def encode_path_value(name: str, value: Any) -> str:
    """One path segment, percent-encoded, once `check_path_value` let it through."""
    return quote(check_path_value(name, value), safe="")


def check_path_value(name: str, value: Any) -> str:
    """The text of a path parameter, refused (ToolCallRefused) if it could leave its segment
    on a server that decodes it, once or again: `.` or `..`, `/` or `\\`, control characters,
    in any percent-encoded form (`%2F`, `%252F`, `%2e%2e`, ...) or Unicode compatibility form
    (`／`, `‥`), and percent-encoding that doesn't decode to UTF-8."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    form = text
    for _ in range(PATH_DECODINGS):
        for variant in (form, unicodedata.normalize("NFKC", form)):
            if variant in ("", ".", ".."):
                means = "" if variant == text else f", which a server may read as {variant!r}"
                raise ToolCallRefused(f"refused: path parameter {name!r} may not be {text!r}"
                                      f"{means} (an empty or dot segment)")
            if "/" in variant or "\\" in variant:
                raise ToolCallRefused(f"refused: path parameter {name!r} may not contain '/' or "
                                      f"'\\', nor encode one: {text!r}")
            if any(ord(ch) < 32 or ord(ch) == 127 for ch in variant):
                raise ToolCallRefused(
                    f"refused: path parameter {name!r} contains control characters")
        try:
            decoded = unquote(form, errors="strict")
        except UnicodeDecodeError:
            raise ToolCallRefused(f"refused: path parameter {name!r} has percent-encoding that "
                                  f"is not UTF-8: {text!r}") from None
        if decoded == form:
            return text
        form = decoded
    raise ToolCallRefused(f"refused: path parameter {name!r} is percent-encoded "
                          f"{PATH_DECODINGS} times over: {text!r}")


def path_check(name: str) -> Callable[[Any], Any]:
    """An after-validator for the args-model field of path parameter `name`."""

    def check(value: Any) -> Any:
        check_path_value(name, value)
        return value

    return check
