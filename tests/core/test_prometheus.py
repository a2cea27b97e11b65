"""core.prometheus: django-prometheus' request metrics, the same series as the stock middleware.

The same requests go through the stack with the stock `PrometheusAfterMiddleware` and with ours;
every django_http series moves by the same amount (latencies only by their counts: their sums and
buckets depend on the clock)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings
from prometheus_client import REGISTRY

pytestmark = pytest.mark.django_db

OURS = "core.prometheus.PrometheusAfterMiddleware"
STOCK = "django_prometheus.middleware.PrometheusAfterMiddleware"


def snapshot() -> dict[tuple, float]:
    values = {}
    for metric in REGISTRY.collect():
        if not metric.name.startswith("django_http"):
            continue
        for sample in metric.samples:
            if sample.name.endswith("_created"):
                continue
            if "latency" in sample.name and not sample.name.endswith("_count"):
                continue
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def moved(middleware: str) -> dict[tuple, float]:
    stack = [STOCK if entry == OURS else entry for entry in settings.MIDDLEWARE]
    if middleware == OURS:
        stack = list(settings.MIDDLEWARE)
    before = snapshot()
    with override_settings(MIDDLEWARE=stack):
        client = Client()
        assert client.get("/health").status_code == 200
        client.head("/health")
        client.get("/health", headers={"x-requested-with": "XMLHttpRequest"})
        client.post("/api/usage/totals", data=b'{"a": 1}', content_type="application/json")
        client.get("/api/no-such-route")
        client.generic("PROPFIND", "/health")
    after = snapshot()
    return {
        key: after[key] - before.get(key, 0.0)
        for key in after
        if after[key] != before.get(key, 0.0)
    }


def test_it_is_the_middleware_in_use():
    assert OURS in settings.MIDDLEWARE and STOCK not in settings.MIDDLEWARE


def test_it_moves_every_series_as_the_stock_middleware_does():
    stock = moved(STOCK)
    ours = moved(OURS)

    assert ours == stock
    assert any(name.startswith("django_http_requests_body_total_bytes") for name, _ in ours)
    assert any(dict(labels).get("method") == "<invalid method>" for _, labels in ours)
    assert any(name == "django_http_ajax_requests_total" for name, _ in ours)
