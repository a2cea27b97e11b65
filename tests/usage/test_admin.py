"""Django admin for usage: records and every rollup level read-only, prices editable and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import AuditEvent
from usage.models import ModelPrice, UsageRecord
from usage.rollups import LEVELS

from .conftest import NOW, record, seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "unused-pw-1")
    client = Client()
    client.force_login(user)
    return client


def _url(model, page: str = "") -> str:
    return f"/django-admin/usage/{model._meta.model_name}/{page}"


def test_it_lists_records_and_every_rollup_level_read_only(staff, frozen_now):
    seed(record("msg_1", NOW - timedelta(hours=1), user="alice", machine="alice-mbp", output=7))

    for model in (UsageRecord, *(level.model for level in LEVELS)):
        listing = staff.get(_url(model))
        assert listing.status_code == 200, model
        assert "0.000105" in listing.content.decode(), model  # 7 × 15 µ$ as USD
        assert staff.get(_url(model, "add/")).status_code == 403, model
    row = UsageRecord.objects.get()
    assert staff.post(_url(UsageRecord, f"{row.pk}/delete/"), {"post": "yes"}).status_code == 403
    assert UsageRecord.objects.filter(pk=row.pk).exists()


def test_it_saves_an_admin_price_as_such_and_audits_it(staff, frozen_now):
    response = staff.post(
        _url(ModelPrice, "add/"),
        {
            "model_prefix": "llama-4",
            "family": "llama",
            "provider": "meta",
            "effective_from_0": "2020-01-01",
            "effective_from_1": "00:00:00",
            "input": "1",
            "cache_write_5m": "1",
            "cache_write_1h": "1",
            "cache_read": "0.1",
            "output": "2",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    price = ModelPrice.objects.get(model_prefix="llama-4")
    assert price.source == "admin"
    event = AuditEvent.objects.get(action="pricing.refresh")
    assert event.meta["kind"] == "admin" and event.meta["model_prefix"] == "llama-4"
    assert event.actor == "staff:ops"


def test_it_deletes_an_admin_price_through_the_pricing_service_and_audits_it(staff, frozen_now):
    price = ModelPrice.objects.order_by("pk").first()
    assert price is not None

    response = staff.post(_url(ModelPrice, f"{price.pk}/delete/"), {"post": "yes"})

    assert response.status_code == 302
    assert not ModelPrice.objects.filter(pk=price.pk).exists()
    event = AuditEvent.objects.get(action="pricing.refresh")
    assert event.meta["kind"] == "admin-delete"
    assert event.meta["model_prefix"] == price.model_prefix
    assert event.actor == "staff:ops"


def test_a_price_override_re_rates_past_records_and_audits_the_repriced_count(staff, frozen_now):
    seed(
        record("msg_old", NOW - timedelta(days=3), model="llama-4-maverick", input=1000, output=10),
        record("msg_new", NOW - timedelta(hours=1), model="llama-4-maverick", input=500),
        record("msg_other", NOW - timedelta(hours=1), output=7),
    )
    assert UsageRecord.objects.get(message_id="msg_old").cost_micros == 0  # no price yet

    response = staff.post(
        _url(ModelPrice, "add/"),
        {
            "model_prefix": "llama-4",
            "family": "llama",
            "provider": "meta",
            "effective_from_0": "2020-01-01",
            "effective_from_1": "00:00:00",
            "input": "2",
            "cache_write_5m": "2",
            "cache_write_1h": "2",
            "cache_read": "0.2",
            "output": "8",
        },
        follow=True,
    )

    assert response.status_code == 200
    old = UsageRecord.objects.get(message_id="msg_old")
    assert (old.model_family, old.cost_micros) == ("llama", 1000 * 2 + 10 * 8)
    assert UsageRecord.objects.get(message_id="msg_new").cost_micros == 500 * 2
    event = AuditEvent.objects.get(action="pricing.refresh")
    assert event.meta["kind"] == "admin" and event.meta["repriced"] == 2
    assert event.meta["delta_micros"] == 2080 + 1000
    assert event.actor == "staff:ops"
    assert "Repriced 2 stored record(s)" in response.content.decode()


def test_deleting_a_price_override_re_rates_what_it_priced(staff, frozen_now):
    price = ModelPrice.objects.create(
        model_prefix="llama-4",
        family="llama",
        effective_from=NOW - timedelta(days=30),
        input=1,
        output=1,
        source="admin",
    )
    seed(record("msg_1", NOW - timedelta(days=1), model="llama-4", input=100))
    assert UsageRecord.objects.get().cost_micros == 100

    staff.post(_url(ModelPrice, f"{price.pk}/delete/"), {"post": "yes"})

    row = UsageRecord.objects.get()
    assert (row.model_family, row.cost_micros) == ("unknown", 0)
    event = AuditEvent.objects.get(action="pricing.refresh")
    assert event.meta["kind"] == "admin-delete" and event.meta["repriced"] == 1
