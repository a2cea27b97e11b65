"""Display filters for the HTML pages: `{% load tf %}`.

Numbers get thousands separators, money a currency sign; times are written in UTC inside a
`<time datetime=…>` element that static/js/site.js rewrites into the viewer's timezone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

register = template.Library()

Number = int | float | Decimal


def _number(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register.filter
def num(value: object, places: int = 0) -> str:
    """1234567 → "1,234,567"; `num:1` keeps one decimal. Anything else is shown as given."""
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    return f"{number:,.{int(places)}f}"


@register.filter
def usd(value: object) -> str:
    """Dollars as a float → "$1,234.56"; below a cent (but not zero) "<$0.01"."""
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    sign = "-" if number < 0 else ""
    number = abs(number)
    if 0 < number < Decimal("0.01"):
        return f"{sign}<$0.01"
    return f"{sign}${number:,.2f}"


@register.filter
def micro_usd(value: object) -> str:
    """Integer micro-USD (as stored) → "$1,234.56"."""
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    return usd(number / Decimal(1_000_000))


@register.filter
def when(value: datetime | None, empty: str = "never") -> SafeString | str:
    """A `<time>` in UTC, rewritten to the viewer's timezone in the browser."""
    if value is None:
        return empty
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    value = value.astimezone(UTC)
    return format_html(
        '<time datetime="{}" data-local>{} UTC</time>',
        value.isoformat().replace("+00:00", "Z"),
        value.strftime("%Y-%m-%d %H:%M"),
    )
