from __future__ import annotations

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from usage.models import ModelPrice, UsageRecord
from usage.price_import import parse_prices
from usage.services.pricing import PRICE_HISTORY_START

from .conftest import NOW, message

pytestmark = pytest.mark.django_db

# Shaped like LiteLLM's model_prices_and_context_window.json (per-token USD).
LITELLM = {
    "sample_spec": {"litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
    # Same numbers as the shipped default: unchanged.
    "claude-sonnet-4-6": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_creation_input_token_cost": 3.75e-06,
        "cache_creation_input_token_cost_above_1hr": 6e-06,
        "cache_read_input_token_cost": 3e-07,
    },
    # A changed price for a known prefix: applied from now on.
    "claude-opus-4-6": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 4e-06,
        "output_cost_per_token": 2e-05,
        "cache_creation_input_token_cost": 5e-06,
        "cache_creation_input_token_cost_above_1hr": 8e-06,
        "cache_read_input_token_cost": 4e-07,
    },
    # A new prefix with a long-context tier: applied for its whole history.
    "claude-haiku-9": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 2e-06,
        "output_cost_per_token": 1e-05,
        "cache_creation_input_token_cost": 2.5e-06,
        "cache_read_input_token_cost": 2e-07,
        "input_cost_per_token_above_200k_tokens": 4e-06,
        "output_cost_per_token_above_200k_tokens": 1.5e-05,
    },
    # Known bad rows: refused, never applied.
    "claude-broken-read": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_read_input_token_cost": 3e-05,
    },
    "claude-broken-1h": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
        "cache_creation_input_token_cost": 3.75e-06,
        "cache_creation_input_token_cost_above_1hr": 3e-06,
    },
    "gpt-broken-write": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 1e-06,
        "output_cost_per_token": 8e-06,
        "cache_creation_input_token_cost": 1e-05,
    },
    "gpt-broken-output": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 1e-05,
        "output_cost_per_token": 1e-06,
    },
    "gpt-broken-number": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": "cheap",
        "output_cost_per_token": 1e-06,
    },
    # Not ours: other providers, provider-prefixed aliases, non-chat modes.
    "anthropic/claude-sonnet-4-6": {
        "litellm_provider": "anthropic",
        "mode": "chat",
        "input_cost_per_token": 3e-06,
        "output_cost_per_token": 1.5e-05,
    },
    "gemini-2.5-pro": {
        "litellm_provider": "vertex_ai-language-models",
        "mode": "chat",
        "input_cost_per_token": 1.25e-06,
        "output_cost_per_token": 1e-05,
    },
    "text-embedding-3-large": {
        "litellm_provider": "openai",
        "mode": "embedding",
        "input_cost_per_token": 1.3e-07,
        "output_cost_per_token": 0.0,
    },
}

SIMPLE = {
    "gpt-5.1": {
        "currency": "USD",
        "input_per_1k": 0.00125,
        "output_per_1k": 0.01,
        "cached_per_1k": 0.000125,
    },
    "gpt-6": {"currency": "USD", "input_per_1k": 0.002, "output_per_1k": 0.016},
    "gpt-6-bad": {
        "currency": "USD",
        "input_per_1k": 0.002,
        "output_per_1k": 0.016,
        "cached_per_1k": 0.02,
    },
    "gpt-6-eur": {"currency": "EUR", "input_per_1k": 0.002, "output_per_1k": 0.016},
}


def test_it_refuses_each_row_that_fails_a_sanity_check():
    parsed = parse_prices(LITELLM)

    assert dict(parsed.skipped) == {
        "claude-broken-read": "cache read above input",
        "claude-broken-1h": "1 h cache write below the 5 m write",
        "gpt-broken-write": "5 m cache write outside input to 2.5 × input",
        "gpt-broken-output": "output below input",
        "gpt-broken-number": "input_cost_per_token is not a number",
    }
    assert parsed.ignored == 4
    assert sorted(row.model for row in parsed.rows) == [
        "claude-haiku-9",
        "claude-opus-4-6",
        "claude-sonnet-4-6",
    ]


def test_it_reads_the_long_context_tier_and_anthropic_write_defaults():
    haiku = next(row for row in parse_prices(LITELLM).rows if row.model == "claude-haiku-9")

    assert haiku.family == "haiku"
    assert (haiku.input, haiku.cache_write_5m, haiku.cache_write_1h) == (
        Decimal("2.000000"),
        Decimal("2.500000"),
        Decimal("4.000000"),  # 1 h write absent: Anthropic's 2 × input
    )
    assert haiku.long_context_threshold == 200_000
    assert (haiku.lc_input, haiku.lc_output) == (Decimal("4.000000"), Decimal("15.000000"))


def test_it_applies_good_rows_from_the_url_and_prints_one_summary_line(
    fake_upstream, frozen_now, settings
):
    settings.PRICING_URL = fake_upstream.serve("/prices.json?key=secret", body=LITELLM)
    out = StringIO()

    call_command("refresh_prices", stdout=out)

    line = out.getvalue().strip()
    assert line.startswith(
        "refresh_prices: applied 2, unchanged 1, skipped 5, ignored 4 from http://127.0.0.1:"
    )
    assert "claude-broken-read: cache read above input" in line
    assert "secret" not in line
    opus = ModelPrice.objects.filter(model_prefix="claude-opus-4-6").order_by("effective_from")
    assert [(row.effective_from, row.input, row.source) for row in opus] == [
        (PRICE_HISTORY_START, Decimal("5"), "default"),
        (NOW, Decimal("4"), "import"),
    ]
    haiku9 = ModelPrice.objects.get(model_prefix="claude-haiku-9")
    assert (haiku9.effective_from, haiku9.family) == (PRICE_HISTORY_START, "haiku")
    assert not ModelPrice.objects.filter(model_prefix__contains="broken").exists()
    event = AuditEvent.objects.get(action="pricing.refresh")
    assert event.meta["applied"] == 2 and event.meta["skipped"] == 5
    assert "secret" not in str(event.meta)


def test_it_imports_the_simple_per_1k_shape_from_a_file(tmp_path, frozen_now):
    path = tmp_path / "prices.json"
    path.write_text(__import__("json").dumps(SIMPLE))
    out = StringIO()

    call_command("refresh_prices", "--file", str(path), stdout=out)

    assert out.getvalue().startswith("refresh_prices: applied 1, unchanged 1, skipped 2, ignored 0")
    gpt6 = ModelPrice.objects.get(model_prefix="gpt-6")
    assert (gpt6.input, gpt6.cache_write_5m, gpt6.cache_read, gpt6.output, gpt6.family) == (
        Decimal(2),
        Decimal(2),
        Decimal(2),
        Decimal(16),
        "gpt-6",
    )


def test_it_applies_nothing_when_the_upstream_fails(fake_upstream, frozen_now):
    before = ModelPrice.objects.count()
    url = fake_upstream.serve("/down", status=500, body={"error": "boom"})

    with pytest.raises(CommandError, match="Could not fetch prices: HTTPError"):
        call_command("refresh_prices", "--url", url, stdout=StringIO())
    with pytest.raises(CommandError, match="must be a JSON object"):
        call_command(
            "refresh_prices", "--url", fake_upstream.serve("/list", body=[1]), stdout=StringIO()
        )

    assert ModelPrice.objects.count() == before


def test_it_prices_new_records_and_repriced_history_with_an_imported_row(
    fake_upstream, frozen_now, ingest
):
    ingest([message("msg_old", "claude-haiku-9", input_tokens=100_000)])
    assert UsageRecord.objects.get().model_family == "unknown"

    call_command(
        "refresh_prices", "--url", fake_upstream.serve("/p", body=LITELLM), stdout=StringIO()
    )
    ingest([message("msg_new", "claude-haiku-9", input_tokens=300_000)])  # above 200k
    call_command("reprice", "--since", "2026-11-01T00:00:00Z", stdout=StringIO())

    costs = dict(UsageRecord.objects.values_list("message_id", "cost_micros"))
    assert costs == {"msg_old": 100_000 * 2, "msg_new": 300_000 * 4}
    assert set(UsageRecord.objects.values_list("model_family", flat=True)) == {"haiku"}
