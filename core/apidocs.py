"""/api/schema (public) and /api/docs (admins): drf-spectacular's views with our access rules.
The description itself is made by core/openapi.py."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication
from accounts.permissions import mtls_admin_allowed
from core.principals import Principal


class DocsAccess(BasePermission):
    """/api/docs: a staff session (the dashboard's login), an admin token, or the admin mTLS."""

    message = "The API documentation is for admins."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if isinstance(user, Principal):
            return user.has_scope("admin")
        if user is not None and getattr(user, "is_staff", False) and user.is_active:
            return True
        return mtls_admin_allowed(request)


class SchemaView(SpectacularAPIView):
    """/api/schema: public, as the contract it describes is (and docs/openapi.yaml is)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]


class DocsView(SpectacularSwaggerView):
    """/api/docs: Swagger UI from drf-spectacular-sidecar's files (no CDN)."""

    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    permission_classes = [DocsAccess]
