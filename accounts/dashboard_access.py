"""Who may see the HTML pages (dashboard, setup wizard after its first step).

The rule, in one place: a signed-in, active staff user; with `DASHBOARD_REQUIRE_MTLS` also the
mTLS header from a trusted proxy (the same header check as the admin JSON, without
`DASHBOARD_ADMIN_KEY`, which a browser cannot send). Signed out, the visitor is sent to the login
page, or to the setup wizard while no staff user exists (a fresh install). A signed-in user who is
not staff gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url

from accounts.selectors import staff_user_exists
from core.client_ip import mtls_verified

View = TypeVar("View", bound=Callable[..., HttpResponse])

MTLS_REQUIRED = "This dashboard needs a verified client certificate (mTLS)."
STAFF_ONLY = "Only staff users may open the dashboard."
SETUP_URL = "/setup/"


def dashboard_mtls_ok(request: HttpRequest) -> bool:
    """True unless DASHBOARD_REQUIRE_MTLS is on and the trusted proxy saw no client certificate."""
    if not settings.DASHBOARD_REQUIRE_MTLS:
        return True
    return mtls_verified(request)


def require_dashboard_mtls(request: HttpRequest) -> None:
    """403 when the mTLS rule applies and is not met (also for the login and setup pages)."""
    if not dashboard_mtls_ok(request):
        raise PermissionDenied(MTLS_REQUIRED)


def is_dashboard_user(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    # Only a Django user counts: DRF views that render templates (/api/docs) put their own
    # principal (an API token) in request.user, and anonymous users are not AbstractBaseUser.
    if not isinstance(user, AbstractBaseUser):
        return False
    return bool(user.is_active and getattr(user, "is_staff", False))


def signed_out_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """To the setup wizard on a fresh install, else to the login page (back here afterwards)."""
    if not staff_user_exists():
        return HttpResponseRedirect(SETUP_URL)
    return redirect_to_login(request.get_full_path(), resolve_url(settings.LOGIN_URL))


def dashboard_denial(request: HttpRequest) -> HttpResponse | None:
    """None when the request may see a dashboard page; else the redirect (raises 403 itself)."""
    require_dashboard_mtls(request)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return signed_out_redirect(request)
    if not is_dashboard_user(request):
        raise PermissionDenied(STAFF_ONLY)
    return None


def staff_required(view: View) -> View:
    """Decorator for function views of the dashboard."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        denial = dashboard_denial(request)
        if denial is not None:
            return denial
        return view(request, *args, **kwargs)

    return wrapped  # type: ignore[return-value]


class StaffRequiredMixin:
    """Mixin for class-based views of the dashboard (put it first among the bases)."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        denial = dashboard_denial(request)
        if denial is not None:
            return denial
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc,no-any-return]
