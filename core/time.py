"""Epoch and ISO 8601 conversions, in one place: every route, ingest and command reads times here.

The rule: a number (or the text of one) is epoch seconds, or epoch milliseconds above 10^11;
other text is ISO 8601, naive meaning UTC. Numbers that are not finite or beyond 10^14 are no
time at all, and no time outside 2000-2100 (core.validation) is plausible: far outside it the
datetime arithmetic itself overflows. A query string's unencoded `+01:00` arrives as ` 01:00`
and is read as `+01:00`.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime

from core.validation import DATE_MAX, DATE_MIN, date_in_range

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
MS_ABOVE = 1e11  # larger epoch numbers are milliseconds
MAX_EPOCH_NUMBER = 1e14
MAX_TIME_TEXT = 64
_EPOCH_MIN = DATE_MIN.timestamp()
_EPOCH_MAX = DATE_MAX.timestamp()

# "+01:00" or "+0100" whose "+" a query string turned into a space.
_UNENCODED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")


class TimeValueError(ValueError):
    """Not a time. `implausible` is set for a number that cannot be one (NaN, beyond 10^14)."""

    def __init__(self, message: str, *, implausible: bool = False) -> None:
        super().__init__(message)
        self.implausible = implausible


def epoch_seconds(value: datetime) -> int:
    return int(value.timestamp())


def epoch_ms(value: datetime) -> int:
    """Exact epoch milliseconds (floored), without going through a float."""
    return (value - EPOCH) // MILLISECOND


def from_epoch_ms(value: int) -> datetime:
    return EPOCH + value * MILLISECOND


def from_epoch(value: float) -> datetime:
    """Epoch seconds, or milliseconds when the value is above 10^11."""
    if not math.isfinite(value) or abs(value) > MAX_EPOCH_NUMBER:
        raise TimeValueError("not a plausible epoch number", implausible=True)
    seconds = value / 1000 if abs(value) > MS_ABOVE else value
    if not _EPOCH_MIN <= seconds < _EPOCH_MAX:
        raise TimeValueError("not a time between 2000 and 2100", implausible=True)
    if abs(value) > MS_ABOVE:
        return EPOCH + timedelta(milliseconds=value)
    return EPOCH + timedelta(seconds=value)


def parse_iso(value: str) -> datetime | None:
    """An aware UTC datetime from ISO 8601 (naive input is taken as UTC), or None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = parse_datetime(text)
    except ValueError:
        return None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset that leaves the calendar
        return None


def parse_time(value: object) -> datetime:
    """The module's rule applied to a JSON value or a query-string value; TimeValueError else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TimeValueError("not epoch seconds, milliseconds or ISO 8601")
    if isinstance(value, str):
        text = _UNENCODED_OFFSET.sub(r"+\1", value)
        try:
            number = float(text)
        except ValueError:
            parsed = parse_iso(text) if len(text) <= MAX_TIME_TEXT else None
            if parsed is None:
                raise TimeValueError("not epoch seconds, milliseconds or ISO 8601") from None
            if not date_in_range(parsed):
                raise TimeValueError("not a time between 2000 and 2100", implausible=True) from None
            return parsed
        return from_epoch(number)
    return from_epoch(value)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
