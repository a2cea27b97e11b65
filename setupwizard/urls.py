from django.urls import include, path

from setupwizard import api, views

wizard = (
    [
        path("", views.start, name="start"),
        path("new-code/", views.new_code, name="new-code"),
        path("scenario/", views.choices, name="choices"),
        path("machines/", views.machines, name="machines"),
        path("embed/", views.embed, name="embed"),
        path("finish/", views.finish, name="finish"),
    ],
    "setupwizard",
)

urlpatterns = [
    path("api/setup/status", api.SetupStatusApi.as_view(), name="setup-status"),
    path("api/setup/complete", api.SetupCompleteApi.as_view(), name="setup-complete"),
    path("api/setup/reset", api.SetupResetApi.as_view(), name="setup-reset"),
    path("setup/", include(wizard)),
]
