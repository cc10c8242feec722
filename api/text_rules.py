"""The rules of the contract's free text, written once for the validators and the OpenAPI
document: white space, a question (or any message a person writes) and its length limit, valid
Unicode. The patterns are checked with Python's `re` and mean the same in the ECMA-262 dialect
JSON Schema uses (no `\\s`, no `\\w`: the characters are spelled out; a test holds the two
readings together). `MAX_INPUT_CHARS` comes in through the validation context and is added to
the document by `api.openapi`.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationInfo

# Python's white space (`str.isspace`, what `str.strip` removes), spelled out.
WHITESPACE = (r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f"
              r"\u205f\u3000")
# A question holds at least one character that is not white space.
QUESTION_PATTERN = f"[^{WHITESPACE}]"
UNICODE_NOTE = "Valid Unicode text (no unpaired surrogates)."


def input_limit(info: ValidationInfo) -> int | None:
    """MAX_INPUT_CHARS, from the validation context (None: no limit given)."""
    context = info.context if isinstance(info.context, dict) else {}
    value = context.get("max_input_chars")
    return value if isinstance(value, int) else None


def check_question_text(value: str, limit: int | None) -> str:
    """A question must have text and fit `limit` (MAX_INPUT_CHARS; None: no limit), else
    `ValueError` saying which ("must not be empty", "is N characters; the limit is ...").
    Each protocol words it as its own error."""
    if not re.search(QUESTION_PATTERN, value):
        raise ValueError("must not be empty")
    if limit is not None and len(value) > limit:
        raise ValueError(f"is {len(value)} characters; the limit is {limit} (MAX_INPUT_CHARS)")
    return value


def check_question(value: str, info: ValidationInfo) -> str:
    """`check_question_text` as a pydantic validator (the limit from the validation context)."""
    return check_question_text(value, input_limit(info))


# Documented, not enforced by pydantic: `check_question` enforces it with its own message.
QUESTION_SCHEMA: dict[str, Any] = {"minLength": 1, "pattern": QUESTION_PATTERN}
