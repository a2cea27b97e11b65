"""Forms of the dashboard login."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User

from accounts.authentication import record_auth_failure
from core import ratelimit
from core.client_ip import client_ip

TOO_MANY_FAILURES = "Too many failed sign-ins from your address. Try again in {minutes} minute(s)."
NOT_STAFF = "This account may not open the dashboard: it is not a staff account."


class StaffLoginForm(AuthenticationForm):
    """Django's login form for staff users only. Failures count against the client IP's
    AUTH_FAIL_LIMIT, like failed API credentials, and are audited as `auth.failed`."""

    def clean(self) -> dict[str, Any]:
        ip = client_ip(self.request) if self.request is not None else None
        verdict = ratelimit.auth_failures_blocked(ip)
        if not verdict.allowed:
            minutes = max(1, -(-verdict.retry_after // 60))
            raise forms.ValidationError(TOO_MANY_FAILURES.format(minutes=minutes))
        try:
            return super().clean()
        except forms.ValidationError:
            if self.request is not None:
                record_auth_failure(
                    self.request,
                    reason="dashboard sign-in refused",
                    credential_kind="password",
                    meta={"username": (self.cleaned_data.get("username") or "")[:150]},
                )
            raise

    def confirm_login_allowed(self, user: User) -> None:
        super().confirm_login_allowed(user)
        if not getattr(user, "is_staff", False):
            raise forms.ValidationError(NOT_STAFF, code="not_staff")
