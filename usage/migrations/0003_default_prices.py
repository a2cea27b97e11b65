"""Default model prices from PRICES.md (USD per million tokens).

Frozen here on purpose: a migration must keep producing the same rows whatever the code becomes.
`refresh_prices` and admin edits add later rows; the newest row in effect at a record's `ts` wins.
"""

from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

SINCE = datetime(2020, 1, 1, tzinfo=UTC)
SONNET_55_CACHE_READ_CHANGE = datetime(2026, 10, 7, tzinfo=UTC)
LONG_CONTEXT_200K = (200_000, "6", "7.50", "12", "0.60", "22.50")

# (prefixes, family, provider, input, 5 m write, 1 h write, cache read, output, long context)
ANTHROPIC = [
    (
        ("claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5"),
        "opus",
        "5",
        "6.25",
        "10",
        "0.50",
        "25",
        None,
    ),
    (("claude-opus-4-1", "claude-opus-4"), "opus", "15", "18.75", "30", "1.50", "75", None),
    (("claude-sonnet-4-6",), "sonnet", "3", "3.75", "6", "0.30", "15", None),
    (
        ("claude-sonnet-4-5", "claude-sonnet-4"),
        "sonnet",
        "3",
        "3.75",
        "6",
        "0.30",
        "15",
        LONG_CONTEXT_200K,
    ),
    (("claude-haiku-4-5",), "haiku", "1", "1.25", "2", "0.10", "5", None),
    (("claude-sonnet-5", "claude-sonnet-5-5"), "sonnet", "2", "2.50", "4", "0.20", "10", None),
    (("claude-opus-5",), "opus", "5", "6.25", "10", "0.50", "25", None),
]

# OpenAI has no cache-write price: writes are billed as input.
# (prefixes, family, input, cached input, output); gpt-5-pro has no cache discount.
OPENAI = [
    (("gpt-5.1-codex-mini",), "gpt-5-mini", "0.25", "0.025", "2"),
    (("gpt-5.1-codex", "gpt-5.1-codex-max", "gpt-5-codex"), "gpt-5", "1.25", "0.125", "10"),
    (("gpt-5.1",), "gpt-5", "1.25", "0.125", "10"),
    (("gpt-5",), "gpt-5", "1.25", "0.125", "10"),
    (("gpt-5-mini",), "gpt-5-mini", "0.25", "0.025", "2"),
    (("gpt-5-nano",), "gpt-5-nano", "0.05", "0.005", "0.40"),
    (("gpt-5-pro",), "gpt-5-pro", "15", "15", "120"),
    (("gpt-5.2", "gpt-5.2-codex", "gpt-5.3-codex"), "gpt-5", "1.75", "0.175", "14"),
    (("gpt-5.5",), "gpt-5", "5", "0.50", "30"),
]


def _rows():
    for prefixes, family, inp, w5, w1, read, out, long_context in ANTHROPIC:
        for prefix in prefixes:
            row = {
                "model_prefix": prefix,
                "family": family,
                "provider": "anthropic",
                "effective_from": SINCE,
                "input": Decimal(inp),
                "cache_write_5m": Decimal(w5),
                "cache_write_1h": Decimal(w1),
                "cache_read": Decimal(read),
                "output": Decimal(out),
            }
            if long_context:
                threshold, lc_in, lc_w5, lc_w1, lc_read, lc_out = long_context
                row.update(
                    long_context_threshold=threshold,
                    lc_input=Decimal(lc_in),
                    lc_cache_write_5m=Decimal(lc_w5),
                    lc_cache_write_1h=Decimal(lc_w1),
                    lc_cache_read=Decimal(lc_read),
                    lc_output=Decimal(lc_out),
                )
            yield row
    yield {
        "model_prefix": "claude-sonnet-5-5",
        "family": "sonnet",
        "provider": "anthropic",
        "effective_from": SONNET_55_CACHE_READ_CHANGE,
        "input": Decimal("2"),
        "cache_write_5m": Decimal("2.50"),
        "cache_write_1h": Decimal("4"),
        "cache_read": Decimal("0.10"),
        "output": Decimal("10"),
    }
    for prefixes, family, inp, read, out in OPENAI:
        for prefix in prefixes:
            yield {
                "model_prefix": prefix,
                "family": family,
                "provider": "openai",
                "effective_from": SINCE,
                "input": Decimal(inp),
                "cache_write_5m": Decimal(inp),
                "cache_write_1h": Decimal(inp),
                "cache_read": Decimal(read),
                "output": Decimal(out),
            }


def seed(apps, schema_editor):
    ModelPrice = apps.get_model("usage", "ModelPrice")
    for row in _rows():
        ModelPrice.objects.update_or_create(
            model_prefix=row["model_prefix"],
            effective_from=row["effective_from"],
            defaults={**row, "source": "default"},
        )


def unseed(apps, schema_editor):
    ModelPrice = apps.get_model("usage", "ModelPrice")
    for row in _rows():
        ModelPrice.objects.filter(
            model_prefix=row["model_prefix"],
            effective_from=row["effective_from"],
            source="default",
        ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0002_daily_total_family_rollups"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
