from django.urls import include, path

urlpatterns: list = [
    path("", include("usage.live_urls")),
]
