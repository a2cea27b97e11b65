"""`/metrics`: usage counters read from the rollups at scrape time, plus django-prometheus.

Every worker answers the same usage numbers because they come from the database, not from
process memory. django-prometheus keeps its request metrics in prometheus_client's default
registry (per process); with `PROMETHEUS_MULTIPROC_DIR` set they are read from the shared
multiprocess files instead. Either way the view assembles the registry itself: django-prometheus'
own export view would drop our collector in multiprocess mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from django.db.models import Sum
from django.http import HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication
from accounts.permissions import UsageReadAccess
from core.negotiation import JsonErrorNegotiation
from embed.access import EmbedTokenUsageRule
from usage.aggregation import MICROS_PER_USD
from usage.models import UsageTotal

LABELS = ["user", "machine", "model_family"]
# kind label value -> rollup column
TOKEN_KINDS = {
    "input": "input",
    "cache_creation": "cache_creation",
    "cache_read": "cache_read",
    "output": "output",
}


def usage_metric_rows() -> list[dict]:
    """All-time sums per user × machine × model family, from the all-time rollup."""
    return list(
        UsageTotal.objects.values(*LABELS)
        .annotate(
            messages_sum=Sum("messages"),
            cost_sum=Sum("cost_micros"),
            **{f"{kind}_sum": Sum(column) for kind, column in TOKEN_KINDS.items()},
        )
        .order_by(*LABELS)
    )


class UsageCollector:
    """prometheus_client collector: `wigtn_tokens_total`, `wigtn_messages_total`,
    `wigtn_cost_usd_total`."""

    def collect(self) -> Iterator[Metric]:
        tokens = CounterMetricFamily(
            "wigtn_tokens",
            "Tokens used, by kind (input, cache_creation, cache_read, output).",
            labels=[*LABELS, "kind"],
        )
        messages = CounterMetricFamily(
            "wigtn_messages", "Assistant messages counted.", labels=LABELS
        )
        cost = CounterMetricFamily(
            "wigtn_cost_usd", "Cost in US dollars at the prices in effect.", labels=LABELS
        )
        for row in usage_metric_rows():
            labels = [str(row[name]) for name in LABELS]
            for kind in TOKEN_KINDS:
                tokens.add_metric([*labels, kind], row[f"{kind}_sum"] or 0)
            messages.add_metric(labels, row["messages_sum"] or 0)
            cost.add_metric(labels, (row["cost_sum"] or 0) / MICROS_PER_USD)
        yield tokens
        yield messages
        yield cost


class _Scrape:
    """What one scrape exposes: the process (or multiprocess) metrics, then usage."""

    def __init__(self, sources: Iterable) -> None:
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def scrape_sources() -> list:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return [registry, UsageCollector()]
    return [REGISTRY, UsageCollector()]


def metrics_render(accept: str) -> tuple[bytes, str]:
    """The exposition body and its content type; OpenMetrics when `accept` asks for it."""
    encoder, content_type = choose_encoder(accept)
    return encoder(_Scrape(scrape_sources())), content_type


class MetricsView(APIView):
    """GET /metrics. Public like the usage reads, unless USAGE_API_PUBLIC=false."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [UsageReadAccess, EmbedTokenUsageRule]
    # Scrapers accept Prometheus or OpenMetrics types; errors before the scrape stay JSON.
    content_negotiation_class = JsonErrorNegotiation

    def get(self, request):
        body, content_type = metrics_render(request.META.get("HTTP_ACCEPT", ""))
        response = HttpResponse(body, content_type=content_type)
        response["Cache-Control"] = "no-store"
        return response
