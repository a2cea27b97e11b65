from django.urls import include, path

from usage import api

urlpatterns: list = [
    path("api/ingest/messages", api.IngestMessagesApi.as_view(), name="ingest-messages"),
    path("api/ingest/collector", api.CollectorDownloadApi.as_view(), name="ingest-collector"),
    path("api/usage/totals", api.TotalsApi.as_view(), name="usage-totals"),
    path("api/usage/timeseries", api.TimeseriesApi.as_view(), name="usage-timeseries"),
    path("api/usage/leaderboard", api.LeaderboardApi.as_view(), name="usage-leaderboard"),
    path("api/usage/users/<path:name>", api.UserDetailApi.as_view(), name="usage-user"),
    path("api/usage/recent", api.RecentApi.as_view(), name="usage-recent"),
    path("api/usage/breakdown", api.BreakdownApi.as_view(), name="usage-breakdown"),
    path("api/usage/breakdown.csv", api.BreakdownCsvApi.as_view(), name="usage-breakdown-csv"),
    path("", include("usage.live_urls")),
]
