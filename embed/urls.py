from django.urls import path

from embed import api

urlpatterns = [
    path("embed/totals", api.EmbedTotalsApi.as_view(), name="embed-totals"),
    path("embed/stream", api.EmbedStreamApi.as_view(), name="embed-stream"),
    path("api/admin/embed-origins", api.EmbedOriginListApi.as_view(), name="embed-origins"),
    path(
        "api/admin/embed-origins/<id:origin_id>",
        api.EmbedOriginDetailApi.as_view(),
        name="embed-origin",
    ),
]
