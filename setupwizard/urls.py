from django.urls import path

from setupwizard import api

urlpatterns = [
    path("api/setup/status", api.SetupStatusApi.as_view(), name="setup-status"),
]
