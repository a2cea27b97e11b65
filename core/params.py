"""Query-string parameters, each rule once: times, limits, short texts. Errors are the usage
dialect's `{"error": "Invalid request.", "fields": {name: message}}` (400)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from core.errors import ApplicationError
from core.time import TimeValueError, parse_time
from core.validation import DATE_RANGE_MESSAGE

MAX_TEXT_PARAM = 255
TIME_FORMATS = "Use epoch seconds, milliseconds or ISO 8601."


def invalid(name: str, message: str) -> ApplicationError:
    return ApplicationError("Invalid request.", fields={name: message})


def time_param(params: Mapping[str, str], name: str) -> datetime | None:
    """Epoch seconds, epoch milliseconds (above 10^11) or ISO 8601; None when absent."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return parse_time(raw)
    except TimeValueError as error:
        message = f"{TIME_FORMATS} {DATE_RANGE_MESSAGE}" if error.implausible else TIME_FORMATS
        raise invalid(name, message) from None


def text_param(params: Mapping[str, str], name: str) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if len(value) > MAX_TEXT_PARAM:
        raise invalid(name, f"At most {MAX_TEXT_PARAM} characters.")
    return value


def int_param(
    params: Mapping[str, str],
    name: str,
    *,
    default: int,
    minimum: int = 1,
    maximum: int,
    cap: bool = False,
) -> int:
    """An integer in [minimum, maximum]; with `cap`, a larger value is lowered to `maximum`
    instead of refused (the audit feed's `limit`, whose clients ask for "everything")."""
    raw = params.get(name)
    if raw in (None, ""):
        return default
    message = (
        "Must be a positive integer." if cap else f"Must be an integer from {minimum} to {maximum}."
    )
    try:
        value = int(str(raw))
    except ValueError:
        raise invalid(name, message) from None
    if value < minimum or (value > maximum and not cap):
        raise invalid(name, message)
    return min(value, maximum)


def page_params(params: Mapping[str, str], *, default: int, maximum: int) -> tuple[int, int | None]:
    """A list page: `limit` (capped at `maximum`) and the `before` cursor, the id below which
    the next rows come (lists that page this way run newest first)."""
    limit = int_param(params, "limit", default=default, maximum=maximum, cap=True)
    before = None
    if params.get("before") not in (None, ""):
        before = int_param(params, "before", default=0, maximum=2**63 - 1)
    return limit, before
