from django.contrib import admin
from django.urls import include, path

from accounts.views import health
from core import converters

converters.register()  # `<id:...>` in the apps' URL modules

urlpatterns = [
    path("health", health, name="health"),
    path("django-admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("usage.urls")),
    path("", include("embed.urls")),
    path("", include("hosts.urls")),
    path("", include("setupwizard.urls")),
]
