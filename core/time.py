"""Epoch and ISO 8601 conversions, in one place."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime


def to_epoch_seconds(value: datetime) -> int:
    return int(value.timestamp())


def to_epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def from_epoch(value: float) -> datetime:
    """Epoch seconds, or milliseconds when the value is above 10^11."""
    if abs(value) > 1e11:
        value = value / 1000.0
    return datetime.fromtimestamp(value, tz=UTC)


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
    return parsed.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
