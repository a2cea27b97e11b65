"""Reads of the fleet admin routes: host rows (no N+1), fleet figures, the runner's state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import Avg, Count, OuterRef, Q, Subquery
from django.utils import timezone

if TYPE_CHECKING:
    from usage.fleet_selectors import FleetRecord

from hosts.fleetauth.authjson import NS_PER_SECOND, ns_from_datetime
from hosts.fleetauth.selectors import canonical_current
from hosts.models import CanonicalAuth, Host, HostAuthState, HostStatus, RunnerCycle, RunnerStep

HOSTS_LIMIT_DEFAULT = 100
HOSTS_LIMIT_MAX = 500


def _latest_usage_id():
    from usage.models import UsageRecord

    return Subquery(
        UsageRecord.objects.filter(host=OuterRef("pk")).order_by("-ts", "-id").values("id")[:1]
    )


def _latest_usage(ids: list[int]) -> dict[int, FleetRecord]:
    from usage.fleet_selectors import records_by_id

    return {record.host_id: record for record in records_by_id(ids) if record.host_id is not None}


def _hosts_with_related(hosts) -> list[Host]:
    """Hosts with their auth state, recent digests and latest usage record (`latest_usage`, a
    FleetRecord or None): four queries in all."""
    rows = list(
        hosts.select_related("auth_state")
        .prefetch_related("recent_digests")
        .annotate(latest_usage_id=_latest_usage_id())
    )
    latest = _latest_usage([row.latest_usage_id for row in rows if row.latest_usage_id])
    for row in rows:
        row.latest_usage = latest.get(row.pk)
    return rows


def host_page(*, before: int | None, limit: int) -> list[Host]:
    """Newest hosts first (by id), below the id `before`."""
    hosts = Host.objects.order_by("-id")
    if before is not None:
        hosts = hosts.filter(id__lt=before)
    return _hosts_with_related(hosts[:limit])


def host_get(*, host_id: int) -> Host | None:
    found = _hosts_with_related(Host.objects.filter(pk=host_id))
    return found[0] if found else None


def host_ids_by_fqdn(fqdns: set[str]) -> dict[str, int]:
    """The id of each host among these FQDNs (a machine name with no host is left out)."""
    return dict(Host.objects.filter(fqdn__in=fqdns).values_list("fqdn", "id"))


def host_auth_state(host: Host) -> HostAuthState | None:
    try:
        return host.auth_state
    except HostAuthState.DoesNotExist:
        return None


def host_counts() -> dict:
    return Host.objects.aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(status=HostStatus.ACTIVE)),
        disabled=Count("id", filter=Q(status=HostStatus.DISABLED)),
    )


def average_refresh_age_seconds(now: datetime | None = None) -> float | None:
    """Mean age of the `last_refresh` each host holds (None when no host has reported one)."""
    now = now or timezone.now()
    mean_ns = HostAuthState.objects.filter(last_refresh_ns__isnull=False).aggregate(
        mean=Avg("last_refresh_ns")
    )["mean"]
    if mean_ns is None:
        return None
    return round((ns_from_datetime(now) - float(mean_ns)) / NS_PER_SECOND, 3)


@dataclass(frozen=True)
class CanonicalStatus:
    """The canonical login's identity and the runner's verdict on it (never the body)."""

    digest: str
    last_refresh: str
    source: str
    source_host_id: int | None
    created_at: datetime
    valid: bool | None  # None until the runner has checked it
    checked_at: datetime | None
    invalid_at: datetime | None
    check_error: str | None


def canonical_status(canonical: CanonicalAuth | None = None) -> CanonicalStatus | None:
    """The current canonical login's status, or None when there is none."""
    canonical = canonical if canonical is not None else canonical_current()
    if canonical is None:
        return None
    valid = None if canonical.checked_at is None else canonical.invalid_at is None
    if canonical.refresh_failed_at is not None:  # its refresh token is spent or revoked
        valid = False
    return CanonicalStatus(
        digest=canonical.digest,
        last_refresh=canonical.last_refresh,
        source=canonical.source,
        source_host_id=canonical.source_host_id,
        created_at=canonical.created_at,
        valid=valid,
        checked_at=canonical.checked_at,
        invalid_at=canonical.invalid_at,
        check_error=canonical.check_error
        or (canonical.refresh_error if canonical.refresh_failed_at else "")
        or None,
    )


def runner_steps() -> list[RunnerStep]:
    return list(RunnerStep.objects.order_by("name"))


def runner_cycles(*, limit: int) -> list[RunnerCycle]:
    return list(RunnerCycle.objects.order_by("-started_at", "-id")[:limit])


CANONICAL_HISTORY_MAX = 200


def canonical_history(*, limit: int = 50) -> list[dict]:
    """Accepted versions of the canonical login, newest first, without their bodies."""
    rows = CanonicalAuth.objects.order_by("-created_at", "-id").values(
        "id",
        "digest",
        "last_refresh",
        "source",
        "source_host_id",
        "source_host__fqdn",
        "is_current",
        "created_at",
        "checked_at",
        "invalid_at",
    )[: min(limit, CANONICAL_HISTORY_MAX)]
    return [dict(row) for row in rows]
