"""Small local views for the accounts tests (`@pytest.mark.urls("tests.accounts.probe_urls")`).

One probe per permission class under a usage-dialect prefix (`/api/probe/...`) and a fleet one
(`/admin/probe/...`), plus views that fail in the ways the error tests need. The real routes are
included too, so a test can mix them.
"""

from __future__ import annotations

import logging

from django.core.exceptions import SuspiciousOperation
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication, QueryTokenAuthentication
from accounts.models import ApiToken
from accounts.permissions import (
    CanEmbed,
    CanIngest,
    CanRead,
    FleetAdminAccess,
    IsAdmin,
    UsageReadAccess,
)
from accounts.throttles import CredentialRateThrottle
from core.errors import ApplicationError


class ProbeView(APIView):
    def get(self, request):
        principal = request.user
        return Response({"ok": True, "actor": getattr(principal, "actor", None)})

    post = get


def probe(permission, **attributes) -> type[APIView]:
    return type(
        f"{permission.__name__}Probe",
        (ProbeView,),
        {"permission_classes": [permission], **attributes},
    )


class DefaultPermissionProbe(ProbeView):
    """No permission_classes of its own: the project default (deny) applies."""


class FleetAdminProbe(ProbeView):
    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [FleetAdminAccess]


class QueryTokenProbe(ProbeView):
    authentication_classes = [QueryTokenAuthentication]
    permission_classes = [CanEmbed]


class PerIpThrottle(CredentialRateThrottle):
    """A subclass keyed by (credential, client IP), as embeds do."""

    def key(self, request, view):
        base = super().key(request, view)
        return None if base is None else f"{base}:{request.META.get('REMOTE_ADDR')}"


class Boom(APIView):
    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("boom: a bug in a view")


def plain_boom(request):
    raise RuntimeError("boom: a bug in a plain Django view")


def plain_suspicious(request):
    raise SuspiciousOperation("odd request")


class FindsNothing(APIView):
    permission_classes: list = []

    def get(self, request):
        return Response({"token": get_object_or_404(ApiToken, pk=0).pk})


class FailsValidation(APIView):
    permission_classes: list = []

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=5)
        count = serializers.IntegerField(min_value=1)

    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.validated_data)


class RaisesApplicationError(APIView):
    permission_classes: list = []

    def get(self, request):
        raise ApplicationError(
            "Not today.", status_code=409, fields={"when": "Tomorrow."}, headers={"X-Why": "test"}
        )


probe_logger = logging.getLogger("tokenfleet.probe")


def logs_its_request(request):
    """Logs carelessly: the full path (with `?token=`) and an exception quoting the token."""
    probe_logger.warning("handling %s", request.get_full_path())
    try:
        raise ValueError(f"rejected credential {request.GET.get('token')}")
    except ValueError:
        probe_logger.exception("probe failed")
    return HttpResponse(status=204)


def shell_script_404(request):
    return HttpResponse("echo 'link expired' >&2; exit 1\n", status=404, content_type="text/x-sh")


PROBES = {
    "is-admin": IsAdmin,
    "can-ingest": CanIngest,
    "can-read": CanRead,
    "can-embed": CanEmbed,
    "usage-read": UsageReadAccess,
}

urlpatterns = [
    *[path(f"api/probe/{name}", probe(cls).as_view()) for name, cls in PROBES.items()],
    path("api/probe/default", DefaultPermissionProbe.as_view()),
    path("api/probe/query-token", QueryTokenProbe.as_view()),
    path(
        "api/probe/per-ip",
        probe(CanRead, throttle_classes=[PerIpThrottle]).as_view(),
    ),
    path("admin/probe/fleet-admin", FleetAdminProbe.as_view()),
    path("api/probe/boom", Boom.as_view()),
    path("admin/probe/boom", Boom.as_view()),
    path("api/probe/plain-boom", plain_boom),
    path("admin/probe/plain-boom", plain_boom),
    path("api/probe/suspicious", plain_suspicious),
    path("api/probe/finds-nothing", FindsNothing.as_view()),
    path("admin/probe/finds-nothing", FindsNothing.as_view()),
    path("api/probe/validation", FailsValidation.as_view()),
    path("admin/probe/validation", FailsValidation.as_view()),
    path("api/probe/app-error", RaisesApplicationError.as_view()),
    path("admin/probe/app-error", RaisesApplicationError.as_view()),
    path("api/probe/log-path", logs_its_request),
    path("install/probe-expired", shell_script_404),
    path("", include("config.urls")),
]
