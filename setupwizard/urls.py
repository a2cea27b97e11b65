from django.urls import include, path

from setupwizard import api, views

wizard = (
    [
        path("", views.start, name="start"),
    ],
    "setupwizard",
)

urlpatterns = [
    path("api/setup/status", api.SetupStatusApi.as_view(), name="setup-status"),
    path("setup/", include(wizard)),
]
