"""Dashboard-only display helpers: `{% load dashboard_tags %}` (beside 14A's `tf`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString

from core.templatetags.tf import when
from core.time import from_epoch_ms, parse_iso

register = template.Library()


@register.filter
def iso_when(value: str | None, empty: str = "never") -> SafeString | str:
    """An ISO 8601 text (as the fleet selectors return times) as a local `<time>`."""
    if not value:
        return empty
    parsed = parse_iso(str(value))
    return when(parsed, empty) if parsed is not None else str(value)


@register.filter
def ms_when(value: int | None, empty: str = "never") -> SafeString | str:
    """Epoch milliseconds as a local `<time>`."""
    if value is None:
        return empty
    return when(from_epoch_ms(int(value)), empty)


@register.filter
def age(value: datetime | str | None) -> str:
    """How long ago, coarse ("3 h", "2 d"): for health at a glance, next to the exact time."""
    if not value:
        return ""
    moment = parse_iso(value) if isinstance(value, str) else value
    if moment is None:
        return ""
    seconds = max(0, int((timezone.now() - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


@register.filter
def pct_class(value: float | int | None) -> str:
    """The bar modifier for a used percentage: warn from 70 %, bad from 90 %."""
    if value is None:
        return ""
    if value >= 90:
        return "bar--bad"
    if value >= 70:
        return "bar--warn"
    return ""


@register.filter
def clamp_pct(value: float | int | None) -> float:
    if value is None:
        return 0.0
    return max(0.0, min(100.0, float(value)))


@register.filter
def get_item(mapping: dict, key: str):
    return mapping.get(key) if isinstance(mapping, dict) else None


@register.filter
def price(value: float | Decimal | None) -> str:
    """USD per million tokens as priced: at least two decimals, up to six ("$0.125")."""
    if value is None:
        return ""
    text = f"{Decimal(str(value)):,.6f}".rstrip("0")
    whole, _dot, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"
