"""Host API keys (`X-API-Key`, or a Bearer value that is not a scoped token) for DRF.

Authentication only reads (and records a failed guess); the IP rule and call counting are
writes, done by hosts.services.host_call_record from the views (hosts.api_base.HostCallMixin).
The messages are verbatim the ones deployed `cdx` clients branch on.
"""

from __future__ import annotations

import hmac

from rest_framework import authentication, exceptions

from accounts.authentication import (
    TOKEN_PREFIXES,
    bearer_credential,
    record_auth_failure,
    refuse_if_ip_blocked,
)
from core.hashing import sha256_hex
from core.principals import HOST, Principal
from hosts.models import Host, HostStatus
from hosts.selectors import host_by_key_hash
from hosts.services import MSG_WRONG_IP

MSG_MISSING = "API key missing"
MSG_INVALID = "Invalid API key"
MSG_DISABLED = "Host is disabled"
MSG_API_DISABLED = "API disabled by administrator"


def presented_key(request) -> str | None:
    """The host key the request carries, if any (not a scoped `w?_` token)."""
    meta = getattr(request, "META", None) or request._request.META
    value = meta.get("HTTP_X_API_KEY", "").strip()
    if value:
        return value
    bearer = bearer_credential(request)
    if bearer and not bearer.startswith(TOKEN_PREFIXES):
        return bearer
    return None


def presented_host(request, key: str) -> Host | None:
    """The host whose key is `key`, or None; looked up once per request (a view may look it up
    before authenticating: hosts.api_base.FleetHostView.fleet_state_read). Only reads."""
    django_request = getattr(request, "_request", request)
    digest = sha256_hex(key)
    found = getattr(django_request, "_presented_host", None)
    if found is None or found[0] != digest:
        # The auth state comes along: a steady-state retrieve needs no further read of it.
        row = host_by_key_hash(digest)
        if row is not None and not hmac.compare_digest(row.api_key_hash, digest):
            row = None
        found = django_request._presented_host = (digest, row)
    host: Host | None = found[1]
    return host


def host_principal(host: Host) -> Principal:
    return Principal(
        kind=HOST, user=host.usage_user, scope="host", credential=host, machine=host.fqdn
    )


class HostKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        key = presented_key(request)
        if key is None:
            return None
        refuse_if_ip_blocked(request)
        host = presented_host(request, key)
        if host is None:
            record_auth_failure(request, reason="unknown host key", credential_kind="host")
            raise exceptions.AuthenticationFailed(MSG_INVALID)
        if host.status != HostStatus.ACTIVE:
            raise exceptions.PermissionDenied(MSG_DISABLED)
        return host_principal(host), host

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="tokenfleet"'


__all__ = [
    "HostKeyAuthentication",
    "presented_key",
    "MSG_MISSING",
    "MSG_INVALID",
    "MSG_DISABLED",
    "MSG_WRONG_IP",
    "MSG_API_DISABLED",
]
