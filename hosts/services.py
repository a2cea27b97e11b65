"""Writes for the fleet that every host-facing view shares: the IP rule, call counting, and
the settings the runner publishes.

Called by the views (hosts.api_base.HostCallMixin) once DRF has authenticated a host key; the
authentication class itself only reads.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.services import audit_record
from core.cache import counter_incr
from core.errors import ApplicationError
from core.principals import host_actor
from hosts.models import FleetSetting, Host
from hosts.selectors import fleet_state_changed

MSG_WRONG_IP = "API key not allowed from this IP"


def host_ip_matches(host: Host, ip: str | None) -> bool:
    """The IP rule's steady case: the host is bound to this address (passes, writes nothing)."""
    return host.bound_ip is not None and host.bound_ip == ip


def host_bind_ip(*, host: Host, ip: str | None, override_allowed: bool = False) -> None:
    """Apply the IP rule to an authenticated host, or raise 403 (audited either way).

    The first call binds the host to its client IP; a later call from another IP is refused
    unless the host allows roaming (then it rebinds) or the view allows a forced override
    (`DELETE /auth?force=1`). An unknown client IP (a peer without a usable address) binds
    nothing and cannot match a bound host, so it only passes for a host not bound yet.
    """
    if host_ip_matches(host, ip):
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
                    actor=host_actor(host.fqdn),
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
                actor=host_actor(host.fqdn),
                ip=ip,
                meta={"host_id": host.pk, "fqdn": host.fqdn, "previous_ip": previous},
            )
        host.bound_ip = ip
        return
    if override_allowed:
        audit_record(
            action="auth.force_ip_override",
            actor=host_actor(host.fqdn),
            ip=ip,
            meta={"host_id": host.pk, "fqdn": host.fqdn, "bound_ip": previous},
        )
        return
    audit_record(
        action="auth.failed",
        actor=host_actor(host.fqdn),
        ip=ip,
        meta={"reason": "ip not allowed", "host_id": host.pk, "bound_ip": previous},
    )
    raise ApplicationError(MSG_WRONG_IP, status_code=403)


def host_call_record(
    *,
    host: Host,
    ip: str | None,
    override_allowed: bool = False,
    count_ahead: Callable[[], int] | None = None,
) -> None:
    """An authenticated host call: the IP rule, then one more API call and `last_seen_at`.
    `count_ahead` counts the call in the cache itself (with other work in one round trip) and
    returns `host_calls_key`'s new value."""
    host_bind_ip(host=host, ip=ip, override_allowed=override_allowed)
    pending = count_ahead() if count_ahead is not None else None
    host.api_calls = host_call_count(host=host, pending=pending)


ACTIVITY_RESOLUTION = timedelta(minutes=1)


def host_calls_key(host_id: int) -> str:
    """The cache counter of the host's calls not yet written to its row (no expiry)."""
    return f"host:calls:{host_id}"


def host_calls_pending(host_ids: list[int]) -> dict[int, int]:
    """Calls counted in the cache and not yet written to `Host.api_calls`, per host."""
    keys = {host_calls_key(host_id): host_id for host_id in host_ids}
    found = cache.get_many(list(keys))
    return {keys[key]: int(value or 0) for key, value in found.items()}


def host_call_count(*, host: Host, now: datetime | None = None, pending: int | None = None) -> int:
    """Count one call of `host`; returns its calls so far, this one included.

    The count goes to a cache counter (atomic in Redis); the row is written at most once a
    minute per host (one conditional UPDATE adds what is pending and sets `last_seen_at`), so a
    steady stream of `cdx` runs costs no database write per call.
    """
    now = now or timezone.now()
    key = host_calls_key(host.pk)
    if pending is None:  # else the caller counted it
        pending = counter_incr(key, timeout=None)
    if host.last_seen_at is not None and now - host.last_seen_at < ACTIVITY_RESOLUTION:
        return host.api_calls + pending
    written = (
        Host.objects.filter(pk=host.pk)
        .filter(Q(last_seen_at__isnull=True) | Q(last_seen_at__lte=now - ACTIVITY_RESOLUTION))
        .update(api_calls=F("api_calls") + pending, last_seen_at=now)
    )
    if not written:  # another worker wrote it this minute
        return host.api_calls + pending
    with contextlib.suppress(ValueError):  # only what was written: later calls stay pending
        cache.decr(key, pending)
    host.last_seen_at = now
    return host.api_calls + pending


def fleet_setting_put(*, key: str, value: Any) -> None:
    """Upsert one `FleetSetting` (the runner's published values; no audit: not an admin change)."""
    now = timezone.now()
    updated = FleetSetting.objects.filter(key=key).update(value=value, updated_at=now)
    if not updated:
        FleetSetting.objects.bulk_create(
            [FleetSetting(key=key, value=value, updated_at=now)], ignore_conflicts=True
        )
        FleetSetting.objects.filter(key=key).update(value=value, updated_at=now)
    fleet_state_changed()
