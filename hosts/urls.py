from django.urls import include, path

urlpatterns = [
    path("", include("hosts.fleetauth.urls")),
    path("", include("hosts.delivery.urls")),
    path("", include("hosts.fleetadmin.urls")),
]
