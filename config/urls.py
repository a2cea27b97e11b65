from django.contrib import admin
from django.urls import include, path

from accounts.views import health
from core import converters
from core.apidocs import DocsView, SchemaView

converters.register()  # `<id:...>` in the apps' URL modules

# HTML routes answer HTML error pages in the site's style; API prefixes stay JSON
# (core.middleware.ApiErrorMiddleware).
handler500 = "core.views.server_error"
# Django admin's "View site" leads to the dashboard (signed out: login, or the setup wizard).
admin.site.site_url = "/"

# The fleet's host routes first: every `cdx` run calls /auth, and Django tries the patterns in
# order (no two apps' routes match the same path: tests/core/test_urls.py checks that).
urlpatterns = [
    path("health", health, name="health"),
    path("", include("hosts.urls")),
    path("django-admin/", admin.site.urls),
    path("api/schema", SchemaView.as_view(), name="api-schema"),
    path("api/docs", DocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("accounts.urls")),
    path("", include("usage.urls")),
    path("", include("embed.urls")),
    path("", include("setupwizard.urls")),
    path("", include("dashboard.urls")),
]
