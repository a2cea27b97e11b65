"""Routes of the live side of usage: the SSE stream and the Prometheus scrape."""

from django.urls import path

from usage.live.views import UsageStreamApi
from usage.metrics import MetricsView

urlpatterns = [
    path("api/usage/stream", UsageStreamApi.as_view(), name="usage-stream"),
    path("metrics", MetricsView.as_view(), name="metrics"),
]
