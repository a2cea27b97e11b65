"""Large tables rendered in Python rather than in the template language.

The breakdown has one row per user × machine × model: 2,000 rows and 24,000 cells for a fleet
of 200 machines. Django's template engine spends about a quarter of a millisecond per row on
that (a loop, twelve lookups and filters); building the same escaped HTML here costs a tenth of
it, which is what keeps the usage page within its time budget (bench/pages.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

from usage.aggregation import Sums


def usd_fine(micros: int) -> str:
    """Integer micro-USD as dollars to four decimals, rounded half to even ("$0.0123")."""
    sign = "-" if micros < 0 else ""
    tenths_of_cents, rest = divmod(abs(micros), 100)
    if rest > 50 or (rest == 50 and tenths_of_cents % 2):
        tenths_of_cents += 1
    dollars, fraction = divmod(tenths_of_cents, 10_000)
    return f"{sign}${dollars:,}.{fraction:04d}"


def breakdown_rows(groups: Sequence[tuple[tuple[str, str, str, str], Sums]]) -> SafeString:
    """The `<tr>` rows of the breakdown table (columns as in templates/dashboard/_breakdown.html):
    the key as text, every count with thousands separators, the cost to four decimals (so rows
    under a cent still show; the CSV has six)."""
    escaped: dict[str, str] = {}  # users, machines and models repeat from row to row

    def text(value: str) -> str:
        found = escaped.get(value)
        if found is None:
            found = escaped[value] = escape(value, quote=True)
        return found

    rows = []
    for (user, machine, model, family), s in groups:
        rows.append(
            f"<tr><td>{text(user)}</td><td>{text(machine)}</td><td>{text(model)}</td>"
            f"<td>{text(family)}</td><td class=num>{s.messages:,}</td>"
            f"<td class=num>{s.input:,}</td><td class=num>{s.cache_creation:,}</td>"
            f"<td class=num>{s.cache_read:,}</td><td class=num>{s.output:,}</td>"
            f"<td class=num>{s.reasoning:,}</td><td class=num>{s.tokens_weighted:,}</td>"
            f"<td class=num data-cost={s.cost_micros}>{usd_fine(s.cost_micros)}</td></tr>"
        )
    return mark_safe("\n".join(rows))  # noqa: S308 - every text cell is escaped above
