"""Host API keys (`X-API-Key`, or a Bearer value that is not a scoped token) for DRF.

The IP rule: the first authenticated call binds the host to its client IP; a later call from
another IP is refused unless the host allows roaming (then it rebinds) or the view allows a
forced override (`DELETE /auth?force=1`). Every case is audited. The messages are verbatim the
ones deployed `cdx` clients branch on.
"""

from __future__ import annotations

import hmac

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.authentication import (
    TOKEN_PREFIXES,
    bearer_credential,
    record_auth_failure,
    refuse_if_ip_blocked,
)
from accounts.services import audit_record
from core.client_ip import client_ip
from core.hashing import sha256_hex
from core.principals import HOST, Principal
from hosts.models import Host, HostStatus

MSG_MISSING = "API key missing"
MSG_INVALID = "Invalid API key"
MSG_DISABLED = "Host is disabled"
MSG_WRONG_IP = "API key not allowed from this IP"
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


def _view_allows_ip_override(request) -> bool:
    view = (getattr(request, "parser_context", None) or {}).get("view")
    check = getattr(view, "ip_override_allowed", None)
    return bool(check and check(request))


def host_bind_ip(*, host: Host, ip: str | None, request) -> None:
    """Apply the IP rule to an authenticated host, or raise 403.

    An unknown client IP (a peer without a usable address) binds nothing and cannot match a
    bound host, so it only passes for a host that has not been bound yet.
    """
    if host.bound_ip is not None and host.bound_ip == ip:
        return
    if ip is None:
        if host.bound_ip is None:
            return
    elif host.bound_ip is None:
        with transaction.atomic():
            bound = Host.objects.filter(pk=host.pk, bound_ip__isnull=True).update(bound_ip=ip)
            if bound:
                audit_record(
                    action="auth.bind_ip",
                    actor=f"host:{host.fqdn}",
                    ip=ip,
                    meta={"host_id": host.pk, "fqdn": host.fqdn},
                )
        host.refresh_from_db(fields=["bound_ip"])
        if host.bound_ip == ip:
            return
    previous = host.bound_ip
    if host.allow_roaming_ips and ip is not None:
        with transaction.atomic():
            Host.objects.filter(pk=host.pk).update(bound_ip=ip)
            audit_record(
                action="auth.roaming_ip",
                actor=f"host:{host.fqdn}",
                ip=ip,
                meta={"host_id": host.pk, "fqdn": host.fqdn, "previous_ip": previous},
            )
        host.bound_ip = ip
        return
    if _view_allows_ip_override(request):
        audit_record(
            action="auth.force_ip_override",
            actor=f"host:{host.fqdn}",
            ip=ip,
            meta={"host_id": host.pk, "fqdn": host.fqdn, "bound_ip": previous},
        )
        return
    audit_record(
        action="auth.failed",
        actor=f"host:{host.fqdn}",
        ip=ip,
        meta={"reason": "ip not allowed", "host_id": host.pk, "bound_ip": previous},
    )
    raise exceptions.PermissionDenied(MSG_WRONG_IP)


class HostKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        key = presented_key(request)
        if key is None:
            return None
        refuse_if_ip_blocked(request)
        digest = sha256_hex(key)
        host = Host.objects.filter(api_key_hash=digest).first()
        if host is None or not hmac.compare_digest(host.api_key_hash, digest):
            record_auth_failure(request, reason="unknown host key", credential_kind="host")
            raise exceptions.AuthenticationFailed(MSG_INVALID)
        if host.status != HostStatus.ACTIVE:
            raise exceptions.PermissionDenied(MSG_DISABLED)
        host_bind_ip(host=host, ip=client_ip(request), request=request)
        now = timezone.now()
        Host.objects.filter(pk=host.pk).update(api_calls=F("api_calls") + 1, last_seen_at=now)
        host.api_calls += 1
        host.last_seen_at = now
        request.host_api_key = key
        principal = Principal(
            kind=HOST, user=host.usage_user, scope="host", credential=host, machine=host.fqdn
        )
        return principal, host

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="tokenfleet"'


__all__ = [
    "HostKeyAuthentication",
    "presented_key",
    "host_bind_ip",
    "MSG_MISSING",
    "MSG_INVALID",
    "MSG_DISABLED",
    "MSG_WRONG_IP",
    "MSG_API_DISABLED",
]
