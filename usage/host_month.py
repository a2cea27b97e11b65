"""One host's Codex usage since the start of the UTC month, cached per host.

Every `/auth` answer carries it (`token_usage_month`), and `cdx` calls `/auth` before each run:
an aggregate over the host's records on every call. It is kept in the shared cache (Redis) per
host, dropped by the ingest that adds Codex records to the host (at once and after commit), and
kept at most HOST_MONTH_TTL seconds as a safety net for other writes (an admin deleting rows).
Without a shared cache (local memory: another process's ingest could not drop it) it is read
every time, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce

from core.cache import cache_shared, request_get
from usage.models import Source, UsageRecord

HOST_MONTH_TTL = 60
FIELDS = ("input", "cache_read", "output", "reasoning", "events")


def host_month_key(host_id: int) -> str:
    """The cache key of the host's sums (a view may read it ahead: core.cache.read_ahead)."""
    return f"usage:host-month:v1:{host_id}"


def host_month_load(*, host_id: int, since: datetime) -> dict[str, int]:
    """The sums from the records (one aggregate query)."""
    zero = 0
    sums: dict[str, int] = UsageRecord.objects.filter(
        host_id=host_id, source=Source.CODEX, ts__gte=since
    ).aggregate(
        input=Coalesce(Sum("input"), zero),
        cache_read=Coalesce(Sum("cache_read"), zero),
        output=Coalesce(Sum("output"), zero),
        reasoning=Coalesce(Sum("reasoning"), zero),
        events=Count("pk"),
    )
    return sums


def host_month_sums(*, host_id: int, since: datetime, request: Any = None) -> dict[str, int]:
    """`input`, `cache_read`, `output`, `reasoning`, `events` of the host's Codex records from
    `since` (the start of a month): cached per host and month."""
    if not cache_shared():
        return host_month_load(host_id=host_id, since=since)
    key = host_month_key(host_id)
    stamp = since.isoformat()
    cached = request_get(request, key)
    if isinstance(cached, tuple) and len(cached) == 2 and cached[0] == stamp:
        return dict(zip(FIELDS, cached[1], strict=True))
    sums = host_month_load(host_id=host_id, since=since)
    cache.set(key, (stamp, tuple(sums[field] for field in FIELDS)), HOST_MONTH_TTL)
    return sums


def host_month_changed(host_ids: Iterable[int]) -> None:
    """Call where Codex records of these hosts are written: dropped now and after commit (a
    reader may have cached the old sums meanwhile)."""
    keys = [host_month_key(host_id) for host_id in set(host_ids)]
    if not keys or not cache_shared():
        return
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys), robust=True)
