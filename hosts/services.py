"""Writes for the fleet that every host-facing view shares: the IP rule and call counting.

Called by the views (hosts.api_base.HostCallMixin) once DRF has authenticated a host key; the
authentication class itself only reads.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.services import audit_record
from core.errors import ApplicationError
from hosts.models import Host

MSG_WRONG_IP = "API key not allowed from this IP"


def host_bind_ip(*, host: Host, ip: str | None, override_allowed: bool = False) -> None:
    """Apply the IP rule to an authenticated host, or raise 403 (audited either way).

    The first call binds the host to its client IP; a later call from another IP is refused
    unless the host allows roaming (then it rebinds) or the view allows a forced override
    (`DELETE /auth?force=1`). An unknown client IP (a peer without a usable address) binds
    nothing and cannot match a bound host, so it only passes for a host not bound yet.
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
    if override_allowed:
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
    raise ApplicationError(MSG_WRONG_IP, status_code=403)


def host_call_record(*, host: Host, ip: str | None, override_allowed: bool = False) -> None:
    """An authenticated host call: the IP rule, then one more API call and `last_seen_at`."""
    host_bind_ip(host=host, ip=ip, override_allowed=override_allowed)
    now = timezone.now()
    Host.objects.filter(pk=host.pk).update(api_calls=F("api_calls") + 1, last_seen_at=now)
    host.api_calls += 1
    host.last_seen_at = now
