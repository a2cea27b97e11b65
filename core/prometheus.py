"""django-prometheus' request metrics: the same series, at a lower price per request.

The stock `PrometheusAfterMiddleware` was the costliest middleware on `GET /health` (in process,
bench/floor.py: about 0.19 ms of CPU of 0.7 ms). Most of it went to two things: it builds
`request.headers` (every META key parsed into a new case-insensitive dict; nothing else here
reads it) to read two headers, and it resolves each labelled series through prometheus_client's
`labels()` (argument checks, string conversion, a lock) nine times a request. Here the two headers
come from META, and each labelled child is looked up once per label set and kept
(`label_metric` is django-prometheus' own extension point). Metric names, labels and values are
the stock middleware's (tests/core/test_prometheus.py compares them).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django_prometheus import middleware as stock
from django_prometheus.utils import Time


class PrometheusAfterMiddleware(stock.PrometheusAfterMiddleware):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (metric, label items) -> the labelled child. Bounded as the registry is: prometheus
        # keeps every child it ever made too. Concurrent misses make the same child twice.
        self._children: dict[tuple[Any, ...], Any] = {}

    def label_metric(
        self, metric: Any, request: HttpRequest, response: Any = None, **labels: str
    ) -> Any:
        if not labels:
            return metric
        key = (metric, *labels.items())
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(**labels)
        return child

    def process_request(self, request: HttpRequest) -> None:
        # The stock method's metrics, with its two headers read from META.
        metrics = self.metrics
        self.label_metric(metrics.requests_by_method, request, method=self._method(request)).inc()
        transport = self._transport(request)
        self.label_metric(metrics.requests_by_transport, request, transport=transport).inc()
        if request.META.get("HTTP_X_REQUESTED_WITH") == "XMLHttpRequest":
            self.label_metric(metrics.requests_ajax, request).inc()
        content_length = int(request.META.get("CONTENT_LENGTH") or 0)
        self.label_metric(metrics.requests_body_bytes, request).observe(content_length)
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]
