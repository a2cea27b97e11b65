"""Plain Django views of the accounts app: health, and the dashboard's login and logout."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.views import LoginView, LogoutView
from django.db import DatabaseError, connection
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.views.decorators.http import require_safe

from accounts.dashboard_access import (
    SETUP_URL,
    is_dashboard_user,
    require_dashboard_mtls,
)
from accounts.forms import StaffLoginForm
from accounts.selectors import staff_user_exists

logger = logging.getLogger("tokenfleet.health")


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, else 503 (load balancers and `make run` poll it)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.exception("health check: database unreachable")
        return JsonResponse({"ok": False, "database": "unreachable"}, status=503)
    return JsonResponse({"ok": True, "database": "ok"})


class DashboardLoginView(LoginView):
    """`/login/`: staff only; to the setup wizard while no staff user exists."""

    form_class = StaffLoginForm
    template_name = "registration/login.html"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        require_dashboard_mtls(request)
        if request.method in ("GET", "HEAD") and not staff_user_exists():
            return HttpResponseRedirect(SETUP_URL)
        # Staff already signed in go on; anyone else signed in sees the form (with a note) to
        # sign in as someone else, rather than looping between the dashboard's 403 and here.
        self.redirect_authenticated_user = is_dashboard_user(request)
        return super().dispatch(request, *args, **kwargs)


class DashboardLogoutView(LogoutView):
    """`/logout/`: POST only (Django's rule), with the CSRF token."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require_dashboard_mtls(request)
        return super().dispatch(request, *args, **kwargs)
