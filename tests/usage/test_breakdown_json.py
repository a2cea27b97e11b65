"""usage.serializers.breakdown_json and breakdown_csv: the breakdown written directly, byte for
byte what `json.dumps(breakdown_body(...))` and `csv.writer` give (the route's answers before they
were written by hand)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from usage.aggregation import Sums
from usage.serializers import (
    CSV_COLUMNS,
    breakdown_body,
    breakdown_csv,
    breakdown_json,
    csv_safe,
)

AT = datetime(2026, 11, 20, 12, 0, 7, 900_000, tzinfo=UTC)

# Names a client chose: quotes, backslashes, control characters, non-ASCII, astral planes,
# formula starts (for the CSV), and the empty string.
NAMES = [
    "alice",
    'bob "the" builder',
    "back\\slash",
    "tab\there\nnewline\x01\x1f",
    "zoë-Ø-日本",
    "emoji-🚀",
    "=SUM(A1)",
    "",
]


def group(index: int, user: str) -> tuple:
    """A BreakdownRow: the four names, then the counters."""
    return (
        user,
        f"box-{index}",
        "claude-sonnet-4-5",
        "sonnet",
        *Sums(
            messages=index + 1,
            input=index * 1000,
            cache_creation=0 if index % 2 else 12_345,
            cache_creation_1h=index,
            cache_read=10**12 + index,
            output=0 if index % 3 == 0 else 77,
            reasoning=index % 2,
            tokens_weighted=987_654_321,
            # Costs json writes with an exponent (1e-06), in full, or with many digits.
            cost_micros=[1, 10, 123_456_789, 5, 10**16, 333_333, 0, 7][index % 8],
        ).values(),
    )


def groups():
    return sorted(group(index, name) for index, name in enumerate(NAMES))


def expected(items) -> bytes:
    body = breakdown_body(items, at=AT)
    return json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def test_it_writes_what_json_dumps_writes():
    items = groups()

    assert breakdown_json(items, at=AT) == expected(items)


def test_it_writes_an_empty_breakdown():
    assert breakdown_json([], at=AT) == expected([])


def test_it_sums_the_cost_entries_per_family():
    items = groups()
    shared = [
        (user, machine, "claude-opus-4-5", "opus", *numbers)
        for user, machine, _m, _f, *numbers in items
    ]
    shared += [
        (user, machine, "claude-opus-4-6", "opus", *numbers)
        for user, machine, _m, _f, *numbers in items
    ]
    shared.sort()

    written = json.loads(breakdown_json(shared, at=AT))

    assert breakdown_json(shared, at=AT) == expected(shared)
    assert len(written["cost"]) == len(items)


@pytest.mark.parametrize("name", NAMES)
def test_it_keeps_the_csv_defusing_formulas(name):
    text = breakdown_csv([group(0, name)])

    line = text.splitlines()[1]
    assert line.startswith("'=SUM(A1)") == (name == "=SUM(A1)")


def csv_expected(items) -> str:
    """The CSV as csv.writer writes it, a row at a time (the route's former writer)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for user, machine, model, family, *counters, cost_micros in items:
        names = [csv_safe(name) for name in (user, machine, model, family)]
        writer.writerow([*names, *counters, f"{cost_micros / 10**6:.6f}"])
    return out.getvalue()


def test_it_writes_the_csv_csv_writer_writes():
    items = groups()
    items += [
        (name, name, name, "unknown", *numbers)
        for name, (_user, _machine, _model, _family, *numbers) in zip(NAMES, items, strict=True)
    ]
    items.sort()

    assert breakdown_csv(items) == csv_expected(items)
    assert breakdown_csv([]) == csv_expected([])
