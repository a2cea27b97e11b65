"""The usage dialect's wire shapes: plain functions (usage/serializers.py) against DRF
serializers declaring the same fields, on the recent feed's largest page (500 rows).

In process, no database and no server: rows shaped as `usage.selectors.recent` returns them.
Prints microseconds per row for each and their ratio, beside `uptime`'s load; asserts nothing.

    .venv/bin/python bench/serializers.py [--rows 500] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789abcdef0123456789abcdef")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s=")
os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")

import django  # noqa: E402

django.setup()

from rest_framework import serializers  # noqa: E402

from core.time import epoch_ms  # noqa: E402
from usage.aggregation import MICROS_PER_USD  # noqa: E402
from usage.serializers import recent_body  # noqa: E402


class RecentEntry(serializers.Serializer):
    """The same entry as `recent_body` writes, declared the DRF way."""

    messageId = serializers.CharField(source="message_id")  # noqa: N815 (wire names)
    user = serializers.CharField()
    machine = serializers.CharField()
    model = serializers.CharField()
    modelFamily = serializers.CharField(source="model_family")  # noqa: N815
    input = serializers.IntegerField()
    cacheCreation = serializers.IntegerField(source="cache_creation")  # noqa: N815
    cacheRead = serializers.IntegerField(source="cache_read")  # noqa: N815
    output = serializers.IntegerField()
    reasoning = serializers.IntegerField()
    tokensWeighted = serializers.IntegerField(source="tokens_weighted")  # noqa: N815
    costUsd = serializers.SerializerMethodField()  # noqa: N815
    ts = serializers.SerializerMethodField()
    inputTokens = serializers.IntegerField(source="input")  # noqa: N815
    outputTokens = serializers.IntegerField(source="output")  # noqa: N815
    weightedInputEq = serializers.IntegerField(source="tokens_weighted")  # noqa: N815

    def get_costUsd(self, row) -> float:  # noqa: N802
        return row["cost_micros"] / MICROS_PER_USD

    def get_ts(self, row) -> int:
        return epoch_ms(row["ts"])


def rows(count: int) -> list[dict]:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    return [
        {
            "message_id": f"msg_{index:08d}",
            "user": f"user{index % 7}",
            "machine": f"build-{index % 5:02d}",
            "model": "claude-sonnet-4-5-20250929",
            "model_family": "sonnet",
            "input": 292 + index,
            "cache_creation": 5000,
            "cache_read": 8271,
            "output": 1045,
            "reasoning": 0,
            "tokens_weighted": 12345 + index,
            "cost_micros": 41234 + index,
            "ts": start + timedelta(seconds=index),
        }
        for index in range(count)
    ]


def per_row_us(work, count: int, seconds: float) -> float:
    """Best of repeated runs within `seconds` (the least disturbed by the other load)."""
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    data = rows(args.rows)
    plain = recent_body(data)["entries"]
    drf = RecentEntry(data, many=True).data
    assert [dict(entry) for entry in drf] == plain, "the two shapes differ"
    plain_us = per_row_us(lambda: recent_body(data), args.rows, args.seconds)
    drf_us = per_row_us(lambda: RecentEntry(data, many=True).data, args.rows, args.seconds)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"recent feed, {args.rows} rows, best of {args.seconds:.0f} s each ({load})")
    print(f"  usage.serializers.recent_body: {plain_us:6.2f} µs/row")
    print(f"  DRF Serializer(many=True):     {drf_us:6.2f} µs/row  ({drf_us / plain_us:.1f}x)")


if __name__ == "__main__":
    main()
