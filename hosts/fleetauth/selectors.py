"""Reads for canonical auth sync: the current login, host state, this month's host usage."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.db.models import Count, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.crypto import decrypt_text
from core.time import iso
from hosts.models import CanonicalAuth, Host, HostAuthDigest


def canonical_current() -> CanonicalAuth | None:
    return CanonicalAuth.objects.filter(is_current=True).first()


def canonical_auth_text(canonical: CanonicalAuth) -> str:
    """The stored JSON text, byte for byte as accepted."""
    return decrypt_text(canonical.ciphertext)


def canonical_auth_object(canonical: CanonicalAuth) -> dict:
    # json.loads keeps key order, so serving the object keeps the digest reproducible.
    return json.loads(canonical_auth_text(canonical))


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def host_token_usage_month(*, host: Host, now: datetime | None = None) -> dict:
    """This host's Codex usage since the start of the UTC month, in one aggregate query.

    As Codex reports it: `input` is the non-cached input, `cached` the cached input, `output`
    includes `reasoning`, and `total` = input + output (cached and reasoning are not added
    again). `events` is the number of usage entries (cdx lines and collected session turns).
    """
    from usage.models import Source, UsageRecord

    zero = 0
    sums = UsageRecord.objects.filter(
        host=host, source=Source.CODEX, ts__gte=month_start(now)
    ).aggregate(
        input=Coalesce(Sum("input"), zero),
        cache_read=Coalesce(Sum("cache_read"), zero),
        output=Coalesce(Sum("output"), zero),
        reasoning=Coalesce(Sum("reasoning"), zero),
        events=Count("pk"),
    )
    return {
        "total": sums["input"] + sums["output"],
        "input": sums["input"],
        "output": sums["output"],
        "cached": sums["cache_read"],
        "reasoning": sums["reasoning"],
        "events": sums["events"],
    }


def host_recent_digests(*, host: Host) -> list[dict]:
    return [
        {"digest": row.digest, "last_refresh": row.last_refresh, "seen_at": iso(row.seen_at)}
        for row in HostAuthDigest.objects.filter(host=host)[:3]
    ]


def host_summary(host: Host) -> dict:
    return {
        "id": host.pk,
        "fqdn": host.fqdn,
        "owner": host.owner,
        "status": host.status,
        "allow_roaming_ips": host.allow_roaming_ips,
        "bound_ip": host.bound_ip,
        "client_version": host.client_version or None,
        "wrapper_version": host.wrapper_version or None,
        "api_calls": host.api_calls,
        "last_seen_at": iso(host.last_seen_at),
        "created_at": iso(host.created_at),
    }
