from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.templatetags.tf import micro_usd, num, usd, when


@pytest.mark.parametrize(
    ("value", "places", "shown"),
    [
        (1234567, 0, "1,234,567"),
        (0, 0, "0"),
        (1234.56, 1, "1,234.6"),
        (None, 0, ""),
        ("n/a", 0, "n/a"),
    ],
)
def test_num_groups_thousands(value, places, shown):
    assert num(value, places) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(3.71, "$3.71"), (12345.678, "$12,345.68"), (0, "$0.00"), (0.004, "<$0.01"), (-2.5, "-$2.50")],
)
def test_usd_has_a_currency_sign_and_cents(value, shown):
    assert usd(value) == shown


def test_micro_usd_converts_stored_integers():
    assert micro_usd(3_710_000) == "$3.71"
    assert micro_usd(Decimal(1_234_567_890_000)) == "$1,234,567.89"


def test_when_writes_a_utc_time_element_for_the_browser_to_localise():
    html = when(datetime(2026, 11, 29, 13, 5, tzinfo=UTC))

    assert html == '<time datetime="2026-11-29T13:05:00Z" data-local>2026-11-29 13:05 UTC</time>'
    assert when(None) == "never"
    assert when(None, "—") == "—"
