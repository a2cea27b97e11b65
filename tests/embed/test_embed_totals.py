from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from tests.embed.conftest import BOARD
from usage.aggregation import UsageFilter
from usage.records import NewRecord
from usage.selectors import totals
from usage.serializers import totals_data
from usage.services.ingest import records_insert

pytestmark = pytest.mark.django_db


def test_it_answers_the_totals_payload(board_origin, embed_token):
    records_insert(
        records=[
            NewRecord(
                message_id=f"m{index}",
                source="claude",
                user="alice",
                machine="mbp",
                model="claude-sonnet-4-5",
                ts=datetime(2026, 11, 1, 12, tzinfo=UTC),
                input=100,
                cache_creation=20,
                cache_read=300,
                output=40,
            )
            for index in range(3)
        ]
    )
    response = APIClient().get(f"/embed/totals?token={embed_token}", HTTP_ORIGIN=BOARD)
    assert response.status_code == 200
    body = response.json()
    assert body["totals"] == totals_data(totals(UsageFilter()))
    assert body["totals"]["messages"] == 3
    assert body["totals"]["input"] == 300
    assert body["totals"]["sum"] == 3 * (100 + 20 + 300 + 40)
    assert isinstance(body["timestamp"], int)
    assert response["Cache-Control"] == "no-store"
