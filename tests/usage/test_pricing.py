from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from usage.models import ModelPrice
from usage.pricing import PriceBook, cost_micros, family_of, tokens_weighted

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
def book() -> PriceBook:
    return PriceBook.load()


@pytest.mark.parametrize(
    ("model", "prefix", "family"),
    [
        ("gpt-5.1-codex-mini", "gpt-5.1-codex-mini", "gpt-5-mini"),
        ("gpt-5.1-codex", "gpt-5.1-codex", "gpt-5"),
        ("gpt-5.1-2025-11-13", "gpt-5.1", "gpt-5"),
        ("gpt-5-2025-08-07", "gpt-5", "gpt-5"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini", "gpt-5-mini"),
        ("gpt-5-nano", "gpt-5-nano", "gpt-5-nano"),
        ("claude-opus-4-1-20250805", "claude-opus-4-1", "opus"),
        ("claude-opus-4-20250514", "claude-opus-4", "opus"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "sonnet"),
        ("claude-sonnet-4-20250514", "claude-sonnet-4", "sonnet"),
        ("claude-haiku-4-5-20251001", "claude-haiku-4-5", "haiku"),
    ],
)
def test_it_matches_the_longest_prefix(book, model, prefix, family):
    price = book.lookup(model, AT)

    assert price is not None
    assert (price.prefix, price.family) == (prefix, family)


def test_it_gives_unknown_models_no_price(book):
    assert book.lookup("llama-3-70b", AT) is None
    assert family_of(book.lookup("llama-3-70b", AT)) == "unknown"
    assert (
        cost_micros(
            None, input=10**6, cache_creation=0, cache_creation_1h=0, cache_read=0, output=10**6
        )
        == 0
    )


def test_it_uses_the_price_in_effect_at_the_record_time(book):
    before = book.lookup("claude-sonnet-5-5", datetime(2026, 10, 6, 23, 59, tzinfo=UTC))
    after = book.lookup("claude-sonnet-5-5", datetime(2026, 10, 7, tzinfo=UTC))
    plain_five = book.lookup("claude-sonnet-5", datetime(2026, 10, 8, tzinfo=UTC))

    counts = {"input": 0, "cache_creation": 0, "cache_creation_1h": 0, "output": 0}
    assert cost_micros(before, cache_read=1_000_000, **counts) == 200_000  # 0.20 $/M
    assert cost_micros(after, cache_read=1_000_000, **counts) == 100_000  # 0.10 $/M
    assert cost_micros(plain_five, cache_read=1_000_000, **counts) == 200_000


def test_it_falls_back_to_a_shorter_prefix_before_a_longer_one_takes_effect(book):
    ModelPrice.objects.create(
        model_prefix="gpt-5.1-codex-max",
        family="gpt-5",
        provider="openai",
        effective_from=datetime(2026, 12, 1, tzinfo=UTC),
        input=Decimal("9"),
        cache_write_5m=Decimal("9"),
        cache_write_1h=Decimal("9"),
        cache_read=Decimal("0.9"),
        output=Decimal("90"),
    )
    ModelPrice.objects.filter(model_prefix="gpt-5.1-codex-max").exclude(
        effective_from=datetime(2026, 12, 1, tzinfo=UTC)
    ).delete()
    book = PriceBook.load()

    assert book.lookup("gpt-5.1-codex-max", AT).prefix == "gpt-5.1-codex"
    assert (
        book.lookup("gpt-5.1-codex-max", datetime(2026, 12, 2, tzinfo=UTC)).base.input == 9 * 10**6
    )


def test_it_prices_one_hour_writes_apart_from_five_minute_writes(book):
    opus = book.lookup("claude-opus-4-6", AT)

    # 600 000 writes, 200 000 of them 1 h: 400 000 × 6.25 + 200 000 × 10 = 4 500 000 µ$
    assert (
        cost_micros(
            opus, input=0, cache_creation=600_000, cache_creation_1h=200_000, cache_read=0, output=0
        )
        == 4_500_000
    )
    # Without the split every write is a 5 m write.
    assert (
        cost_micros(
            opus, input=0, cache_creation=600_000, cache_creation_1h=0, cache_read=0, output=0
        )
        == 3_750_000
    )


def test_it_prices_the_whole_request_at_the_long_context_tier_above_the_threshold(book):
    sonnet = book.lookup("claude-sonnet-4-5", AT)

    at_threshold = cost_micros(
        sonnet,
        input=100_000,
        cache_creation=50_000,
        cache_creation_1h=10_000,
        cache_read=50_000,
        output=1_000,
    )
    above = cost_micros(
        sonnet,
        input=100_001,
        cache_creation=50_000,
        cache_creation_1h=10_000,
        cache_read=50_000,
        output=1_000,
    )

    # 100 000×3 + 40 000×3.75 + 10 000×6 + 50 000×0.30 + 1 000×15
    assert at_threshold == 300_000 + 150_000 + 60_000 + 15_000 + 15_000
    # 100 001×6 + 40 000×7.50 + 10 000×12 + 50 000×0.60 + 1 000×22.50
    assert above == 600_006 + 300_000 + 120_000 + 30_000 + 22_500
    # Opus 4.6 has no tier: a long request is billed at the base price.
    opus = book.lookup("claude-opus-4-6", AT)
    assert (
        cost_micros(
            opus, input=300_000, cache_creation=0, cache_creation_1h=0, cache_read=0, output=0
        )
        == 1_500_000
    )


def test_it_rounds_cost_half_up_once_per_record(book):
    nano = book.lookup("gpt-5-nano", AT)  # 0.05 input, 0.005 cached, 0.40 output

    assert (
        cost_micros(nano, input=10, cache_creation=0, cache_creation_1h=0, cache_read=100, output=0)
        == 1
    )  # 0.5 + 0.5 = 1.0, not 0 + 0
    assert (
        cost_micros(nano, input=9, cache_creation=0, cache_creation_1h=0, cache_read=0, output=0)
        == 0
    )  # 0.45
    assert (
        cost_micros(nano, input=10, cache_creation=0, cache_creation_1h=0, cache_read=0, output=0)
        == 1
    )  # 0.5 rounds up


def test_it_bills_openai_cache_writes_at_the_input_price(book):
    gpt = book.lookup("gpt-5", AT)

    assert (
        cost_micros(gpt, input=0, cache_creation=1000, cache_creation_1h=0, cache_read=0, output=0)
        == 1250
    )


def test_it_weights_tokens_and_rounds_half_up():
    assert tokens_weighted(input=1, cache_creation=1, cache_read=1, output=1) == 7  # 7.35
    assert tokens_weighted(input=0, cache_creation=2, cache_read=0, output=0) == 3  # 2.5
    assert tokens_weighted(input=0, cache_creation=0, cache_read=4, output=0) == 0  # 0.4
    assert tokens_weighted(input=0, cache_creation=0, cache_read=5, output=0) == 1  # 0.5


def test_it_ships_the_default_price_table():
    assert ModelPrice.objects.filter(source="default").count() == 27
    row = ModelPrice.objects.get(model_prefix="claude-sonnet-4-5")
    assert (row.long_context_threshold, row.lc_output) == (200_000, Decimal("22.5"))
    pro = ModelPrice.objects.get(model_prefix="gpt-5-pro")
    assert (pro.input, pro.cache_read, pro.output) == (Decimal(15), Decimal(15), Decimal(120))
