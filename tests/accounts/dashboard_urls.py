"""A stand-in urlconf for the dashboard access tests: the real routes, plus a fake `dashboard`
namespace with two pages (so the navigation can be checked without the dashboard app) and HTML
pages that fail."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path
from django.views import View

import config.urls  # noqa: F401  (registers the `<id:...>` converter the apps' routes use)
from accounts.dashboard_access import StaffRequiredMixin, staff_required
from accounts.views import health


@staff_required
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "base.html")


class ClassPage(StaffRequiredMixin, View):
    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("class page")


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("probe failure")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("Probe says no.")


def api_boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("api probe failure")


fake_dashboard = (
    [
        path("overview/", page, name="overview"),
        path("hosts/", page, name="hosts"),
        path("hosts/1/", page, name="host"),
        path("class/", ClassPage.as_view(), name="class"),
    ],
    "dashboard",
)

urlpatterns = [
    path("probe/", include(fake_dashboard)),
    path("probe/boom", boom),
    path("probe/forbidden", forbidden),
    path("api/probe/boom", api_boom),
    # The real routes this test needs, without the dashboard app's own `dashboard` namespace.
    path("health", health, name="health"),
    path("django-admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("", include("usage.urls")),
    path("", include("hosts.urls")),
    path("", include("setupwizard.urls")),
    path("", page, name="home"),  # `/` is the dashboard's overview in the real urlconf
]

handler500 = "core.views.server_error"
