from django.urls import path

from hosts.api_base import plain_post_route
from hosts.fleetauth import api

urlpatterns = [
    path("auth", plain_post_route(api.AuthApi), name="fleet-auth"),
    path("versions", api.VersionsApi.as_view(), name="fleet-versions"),
    path("admin/versions/check", api.VersionsCheckApi.as_view(), name="fleet-versions-check"),
    path("admin/api/state", api.ApiStateApi.as_view(), name="fleet-api-state"),
    path("admin/chatgpt/usage", api.ChatGptUsageApi.as_view(), name="fleet-chatgpt-usage"),
    path(
        "admin/chatgpt/usage/refresh",
        api.ChatGptUsageRefreshApi.as_view(),
        name="fleet-chatgpt-usage-refresh",
    ),
]
