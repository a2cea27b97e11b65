"""The one time rule (core.time.parse_time) as every route and ingest read it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from core.time import TimeValueError, epoch_ms, from_epoch_ms, parse_time

AT = datetime(2025, 1, 1, 0, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        1735689720,
        1735689720.0,
        1735689720000,
        "1735689720",
        "1735689720000",
        "2025-01-01T00:02:00Z",
        "2025-01-01T00:02:00",
        "2025-01-01T01:02:00+01:00",
        "2025-01-01T01:02:00 01:00",  # "+01:00" unencoded in a query string
        "2025-01-01T01:02:00 0100",
    ],
)
def test_it_reads_every_form_of_the_same_instant(value):
    assert parse_time(value) == AT


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e15, "nan", "-inf", "1e20"])
def test_it_calls_impossible_numbers_implausible(value):
    with pytest.raises(TimeValueError) as caught:
        parse_time(value)
    assert caught.value.implausible


@pytest.mark.parametrize("value", [True, None, [], {}, "yesterday", "2025-13-01", "x" * 65])
def test_it_refuses_what_is_no_time(value):
    with pytest.raises(TimeValueError) as caught:
        parse_time(value)
    assert not caught.value.implausible


def test_it_converts_epoch_milliseconds_exactly():
    value = datetime(2026, 3, 1, 12, 0, 0, 999000, tzinfo=UTC)
    assert from_epoch_ms(epoch_ms(value)) == value
    assert epoch_ms(value) == 1772366400999
