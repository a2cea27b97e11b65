"""Rules every input passes before it reaches the database, written once for every route.

PostgreSQL refuses NUL in text and JSON, UTF-8 cannot encode a lone surrogate (JSON's
`"\\ud800"` decodes to one), Python's datetime and our epoch arithmetic overflow far outside the
years anything was written in, integer columns are 64-bit. A value that breaks one of these is
the client's mistake: it gets a 400/422 naming the field, never a 500, and in a batch only its
own message is refused.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

# Anything dated outside these years is a clock, unit or parse bug, not usage or a login.
DATE_MIN = datetime(2000, 1, 1, tzinfo=UTC)
DATE_MAX = datetime(2100, 1, 1, tzinfo=UTC)
DATE_RANGE_MESSAGE = "Must be between 2000-01-01 and 2100-01-01 (UTC)."

# PostgreSQL bigint / SQLite integer: what an id or a count column can hold.
BIGINT_MAX = 2**63 - 1
# Deep enough for every body we accept (an auth.json is 4 levels), shallow enough that no walk
# over a parsed body recurses anywhere near Python's limit.
JSON_MAX_DEPTH = 32

_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text (NUL, a lone surrogate), or None."""
    match = _NUL_OR_SURROGATE.search(value)
    if match is None:
        return None
    if match.group() == "\x00":
        return "Must not contain NUL characters."
    return "Must be valid Unicode (no lone surrogates)."


def json_problem(value: Any, *, max_depth: int = JSON_MAX_DEPTH) -> tuple[str, str] | None:
    """(path, problem) of the first string (key or value) that cannot be stored, or of nesting
    deeper than `max_depth`; None when the whole structure is fine. Iterative: a body nested
    thousands deep is refused, not a RecursionError."""
    stack: list[tuple[Any, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                return path, problem
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            return path, f"Nested more than {max_depth} levels deep."
        if isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                problem = text_problem(str(key))
                if problem:
                    return path or "body", f"Key: {problem[0].lower()}{problem[1:]}"
                stack.append((child, child_path, depth + 1))
        else:
            for index, child in enumerate(item):
                stack.append((child, f"{path}.{index}" if path else str(index), depth + 1))
    return None


def json_depth(value: Any, *, limit: int) -> int:
    """Nesting depth of a parsed JSON value, counting stops once it passes `limit`."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return deepest


def date_in_range(value: datetime) -> bool:
    return DATE_MIN <= value < DATE_MAX
