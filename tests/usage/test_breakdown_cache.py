"""usage.bodycache on the breakdown routes: the same bytes as without it, and every write that
changes the answer (ingest, Codex usage, reprice, a price saved or deleted by hand) retires what
a process kept, as does a data version bumped elsewhere (another worker or a management command
sharing the cache)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection

from usage import bodycache
from usage.models import ModelPrice, UsageTotal
from usage.services.pricing import price_delete, price_save, records_reprice

from .conftest import NOW, message, record, seed

pytestmark = pytest.mark.django_db

ROUTES = ("/api/usage/breakdown", "/api/usage/breakdown.csv")


@pytest.fixture
def cached(settings):
    settings.USAGE_BODY_CACHE = True
    bodycache._local.clear()
    yield
    bodycache._local.clear()


@pytest.fixture
def usage(frozen_now):
    seed(
        record("a1", NOW - timedelta(days=1), output=10, cache_creation=8, cache_read=50),
        record("a2", NOW - timedelta(days=5), output=5, input=1),
        record("b1", NOW - timedelta(hours=2), user="bob", machine="bob-vm", model="gpt-5"),
        record("c1", NOW - timedelta(minutes=20), user="carol", model="claude-opus-4-6", output=3),
    )


def answers(api_client, **params) -> list[bytes]:
    bodies = []
    for route in ROUTES:
        response = api_client.get(route, params)
        assert response.status_code == 200, response.content
        bodies.append(response.content)
    return bodies


def opus_row(api_client, user: str = "carol") -> Any:
    rows = api_client.get("/api/usage/breakdown").json()["rows"]
    return next(
        (row for row in rows if row["model"] == "claude-opus-4-6" and row["user"] == user), None
    )


class BrokenCache:
    """The shared cache with some calls failing, as while Redis is unreachable (for
    usage.bodycache only: the rate limits keep their own cache)."""

    def __init__(self, broken: tuple[str, ...]) -> None:
        self.broken = broken

    def __getattr__(self, name: str):
        if name in self.broken:

            def unreachable(*args, **kwargs):
                raise ConnectionError("cache down")

            return unreachable
        return getattr(cache, name)


FILTERS = [
    {},
    {"user": "alice"},
    {"from": int((NOW - timedelta(days=2)).timestamp() * 1000)},
    {
        "from": int((NOW - timedelta(hours=3, minutes=7)).timestamp() * 1000),
        "to": int((NOW - timedelta(minutes=3)).timestamp() * 1000),
        "machine": "alice-mbp",
    },
]


@pytest.mark.parametrize("params", FILTERS)
def test_it_answers_the_same_bytes_as_without_the_cache(api_client, usage, settings, params):
    settings.USAGE_BODY_CACHE = False
    uncached = answers(api_client, **params)
    settings.USAGE_BODY_CACHE = True
    bodycache._local.clear()

    assert answers(api_client, **params) == uncached  # built and kept
    assert answers(api_client, **params) == uncached  # served from memory


def test_it_serves_a_kept_answer_until_the_data_version_moves(api_client, usage, cached):
    before = answers(api_client)
    # Another process's write, as this one sees it: the rows change underneath, then the data
    # version in the shared cache moves (that process's rollups_apply bumped it).
    UsageTotal.objects.filter(user="carol").update(output=1234)

    assert answers(api_client) == before

    cache.incr(bodycache.VERSION_KEY)

    after = answers(api_client)
    assert after != before
    assert b'"output":1234' in after[0]
    assert b",1234," in after[1]


def test_it_keeps_nothing_it_could_serve_once_the_version_is_lost(api_client, usage, cached):
    before = answers(api_client)
    UsageTotal.objects.filter(user="carol").update(output=1234)

    cache.delete(bodycache.VERSION_KEY)  # flushed or evicted

    assert answers(api_client) != before


def test_it_moves_the_timestamp_of_a_kept_answer_with_the_clock(api_client, usage, cached):
    first = api_client.get("/api/usage/breakdown").json()
    with time_machine.travel(NOW + timedelta(seconds=42), tick=False):
        later = api_client.get("/api/usage/breakdown").json()

    assert later["timestamp"] == first["timestamp"] + 42
    assert later["rows"] == first["rows"]


def test_it_retires_kept_answers_on_ingest(api_client, usage, cached, ingest):
    before = answers(api_client)
    assert opus_row(api_client, user="alice") is None

    response = ingest([message("new-1", "claude-opus-4-6", output_tokens=100)])

    assert response.json()["applied"] == 1
    after = answers(api_client)
    assert after[0] != before[0] and after[1] != before[1]
    assert opus_row(api_client, user="alice")["output"] == 100


def test_it_retires_kept_answers_on_codex_usage(api_client, usage, cached):
    before = answers(api_client)

    seed(record("codex-1", NOW - timedelta(minutes=5), source="codex", model="gpt-5", output=9))

    assert answers(api_client) != before


def test_it_retires_kept_answers_on_reprice(api_client, usage, cached):
    answers(api_client)
    cost = opus_row(api_client)["costUsd"]
    # A price row changed underneath (as a data migration or another tool would), then
    # `manage.py reprice` re-rates the records.
    ModelPrice.objects.filter(model_prefix="claude-opus-4-6").update(output=Decimal("50"))
    assert opus_row(api_client)["costUsd"] == cost  # nothing rated yet: the kept answer holds

    summary = records_reprice(since=NOW - timedelta(days=30))

    assert summary.changed >= 1
    assert opus_row(api_client)["costUsd"] == pytest.approx(cost * 2)


def _opus_price(effective_from: datetime, output: str) -> ModelPrice:
    return ModelPrice(
        model_prefix="claude-opus-4-6",
        family="opus",
        provider="anthropic",
        effective_from=effective_from,
        input=Decimal("5"),
        cache_write_5m=Decimal("6.25"),
        cache_write_1h=Decimal("10"),
        cache_read=Decimal("0.5"),
        output=Decimal(output),
    )


def test_it_retires_kept_answers_when_a_price_is_saved_or_deleted(api_client, usage, cached):
    cost = opus_row(api_client)["costUsd"]
    price = _opus_price(NOW - timedelta(hours=1), output="100")

    price_save(price=price, actor="test")

    assert opus_row(api_client)["costUsd"] == pytest.approx(cost * 4)

    price_delete(prices=[price], actor="test")

    assert opus_row(api_client)["costUsd"] == pytest.approx(cost)


def test_it_bumps_the_version_in_the_write_and_again_after_its_commit(
    usage, cached, django_capture_on_commit_callbacks
):
    start = bodycache.data_version()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        seed(record("late", NOW - timedelta(minutes=1), output=1))
    in_transaction = bodycache.data_version()
    for callback in callbacks:
        callback()

    assert in_transaction != start
    assert bodycache.data_version() != in_transaction


def test_it_serves_nothing_from_memory_while_the_cache_is_unreadable(
    api_client, usage, cached, monkeypatch
):
    before = answers(api_client)

    monkeypatch.setattr(bodycache, "cache", BrokenCache(broken=("get", "add")))
    table, user = UsageTotal._meta.db_table, connection.ops.quote_name("user")
    with connection.cursor() as cursor:  # a write this process never saw
        cursor.execute(f"UPDATE {table} SET output = 777 WHERE {user} = %s", ["carol"])  # noqa: S608

    assert answers(api_client) != before


def test_it_never_fails_a_write_when_the_cache_is_down(api_client, usage, cached, monkeypatch):
    answers(api_client)

    monkeypatch.setattr(bodycache, "cache", BrokenCache(broken=("incr", "set")))

    seed(
        record(
            "while-down",
            NOW - timedelta(minutes=1),
            user="carol",
            model="claude-opus-4-6",
            output=1,
        )
    )

    # Stored, and the writing process drops what it kept even though the version stood still.
    assert opus_row(api_client)["output"] == 3 + 1


def test_it_is_off_without_the_setting(api_client, usage, settings):
    settings.USAGE_BODY_CACHE = False
    before = answers(api_client)
    UsageTotal.objects.filter(user="carol").update(output=1234)

    assert answers(api_client) != before


def test_a_fresh_version_is_random_not_a_restart_from_zero(db):
    cache.delete(bodycache.VERSION_KEY)
    first = bodycache.data_version()
    cache.delete(bodycache.VERSION_KEY)
    second = bodycache.data_version()

    assert first != second
    assert first is not None and first > 1000 and second is not None and second > 1000
