from django.urls import path

from hosts.delivery import api

urlpatterns = [
    path("admin/hosts/register", api.HostRegisterApi.as_view(), name="host-register"),
    path("install/<str:token>", api.InstallerApi.as_view(), name="installer"),
    path("wrapper", api.WrapperMetadataApi.as_view(), name="wrapper"),
    path("wrapper/download", api.WrapperDownloadApi.as_view(), name="wrapper-download"),
    path("slash-commands", api.SlashCommandListApi.as_view(), name="slash-commands"),
    path(
        "slash-commands/retrieve",
        api.SlashCommandRetrieveApi.as_view(),
        name="slash-commands-retrieve",
    ),
    path("usage", api.CodexUsageApi.as_view(), name="codex-usage"),
    path("slash-commands/store", api.SlashCommandStoreApi.as_view(), name="slash-commands-store"),
]
