from django.urls import path

from hosts.fleetadmin import api

urlpatterns = [
    path("admin/overview", api.OverviewApi.as_view(), name="admin-overview"),
    path("admin/hosts", api.HostListApi.as_view(), name="admin-hosts"),
    path("admin/hosts/<int:host_id>", api.HostDetailApi.as_view(), name="admin-host"),
    path("admin/hosts/<int:host_id>/auth", api.HostAuthApi.as_view(), name="admin-host-auth"),
    path(
        "admin/hosts/<int:host_id>/roaming", api.HostRoamingApi.as_view(), name="admin-host-roaming"
    ),
    path("admin/hosts/<int:host_id>/clear", api.HostClearApi.as_view(), name="admin-host-clear"),
    path("admin/hosts/<int:host_id>/status", api.HostStatusApi.as_view(), name="admin-host-status"),
    path("admin/auth/upload", api.AuthUploadApi.as_view(), name="admin-auth-upload"),
    path("admin/logs", api.LogsApi.as_view(), name="admin-logs"),
    path("admin/usage", api.UsageApi.as_view(), name="admin-usage"),
    path("admin/tokens", api.TokensApi.as_view(), name="admin-tokens-aggregate"),
    path("admin/runner", api.RunnerApi.as_view(), name="admin-runner"),
    path("admin/runner/run", api.RunnerRunApi.as_view(), name="admin-runner-run"),
    path("admin/slash-commands", api.SlashCommandListApi.as_view(), name="admin-slash-commands"),
    path(
        "admin/slash-commands/<str:filename>",
        api.SlashCommandDeleteApi.as_view(),
        name="admin-slash-command",
    ),
]
