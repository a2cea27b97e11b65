from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.services import token_issue
from usage.models import ModelPrice, UsageFamilyDaily, UsageRecord
from usage.records import NewRecord
from usage.services.ingest import records_insert

from .conftest import NOW, message, rollups_from_records, rollups_stored

pytestmark = pytest.mark.django_db


def _at(days: float = 0, hours: float = 0, minutes: float = 0) -> int:
    return int((NOW - timedelta(days=days, hours=hours, minutes=minutes)).timestamp())


def test_it_keeps_every_rollup_equal_to_a_group_by_of_the_raw_rows(ingest, frozen_now, client_for):
    _bob, bob_token = token_issue(user="bob", scope="ingest")
    ingest(
        [
            message("a1", "claude-opus-4-6", input_tokens=10, output_tokens=5, ts=_at(hours=1)),
            message(
                "a2",
                "claude-opus-4-6",
                input_tokens=20,
                cache_creation_input_tokens=40,
                cache_creation_1h_input_tokens=10,
                ts=_at(hours=1, minutes=30),
            ),
            message("a3", "claude-sonnet-4-6", cache_read_input_tokens=900, ts=_at(days=1)),
            message("a4", "claude-haiku-4-5", output_tokens=7, ts=_at(days=3, hours=5)),
            message("a5", "mystery-model", input_tokens=3, ts=_at(days=2)),
            message("bad", "claude-opus-4-6", input_tokens=-1),
        ]
    )
    ingest(
        [
            message("a1", "claude-opus-4-6", input_tokens=999),  # duplicate
            message("a6", "claude-opus-4-6", input_tokens=11, ts=_at(hours=1, minutes=5)),
        ],
        machine="alice-desktop",
    )
    ingest(
        [
            message("b1", "claude-sonnet-4-5", input_tokens=250_000, ts=_at(days=1)),
            message("b2", "gpt-5.1-codex", input_tokens=100, output_tokens=50, ts=_at(hours=2)),
            message("a5", "mystery-model", input_tokens=3, ts=_at(days=2)),  # alice's id
        ],
        machine="bob-box",
        token=bob_token,
    )
    records_insert(
        records=[
            NewRecord(
                message_id="codex-1",
                source="codex",
                user="carol",
                machine="carol-vm",
                model="gpt-5.1-codex-mini",
                ts=NOW - timedelta(hours=3),
                input=1000,
                cache_read=4000,
                output=300,
                reasoning=120,
                host_id=None,
                line="Token usage: total=1,300 input=1,000 (+ 4,000 cached) output=300",
            ),
        ]
    )
    assert UsageRecord.objects.count() == 9
    assert rollups_stored() == rollups_from_records()

    # A price for the unknown model and a dated Opus change, then a reprice of part of the range.
    for prefix, family, price in [
        ("mystery-model", "mystery", "2"),
        ("claude-opus-4-6", "opus", "7"),
    ]:
        ModelPrice.objects.create(
            model_prefix=prefix,
            family=family,
            provider="anthropic",
            effective_from=datetime(2020, 1, 1, tzinfo=UTC)
            if family == "mystery"
            else NOW - timedelta(hours=1, minutes=10),
            input=Decimal(price),
            cache_write_5m=Decimal(price),
            cache_write_1h=Decimal(price) * 2,
            cache_read=Decimal(price) / 10,
            output=Decimal(price) * 5,
        )
    out = StringIO()
    call_command(
        "reprice",
        "--since",
        (NOW - timedelta(days=2, hours=1)).isoformat(),
        "--chunk-size",
        "2",
        stdout=out,
    )

    assert out.getvalue().startswith("reprice: scanned 8, changed 3,")
    costs = dict(UsageRecord.objects.values_list("message_id", "cost_micros"))
    assert costs["a5"] == 6  # 3 × 2
    assert costs["a1"] == 10 * 7 + 5 * 35  # after the change
    assert costs["a6"] == 11 * 7
    assert costs["a2"] == 388  # before it, unchanged: 20×5 + 30×6.25 + 10×10 = 387.5 → 388
    assert not UsageFamilyDaily.objects.filter(model_family="unknown").exists()
    assert rollups_stored() == rollups_from_records()

    # More ingest after the reprice keeps them equal too.
    ingest([message("a7", "mystery-model", input_tokens=1, ts=_at(minutes=1))])
    assert rollups_stored() == rollups_from_records()
