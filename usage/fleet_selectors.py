"""Reads for the fleet admin JSON (`/admin/overview`, `/admin/usage`, `/admin/tokens`): recent
rows with their host, per-machine × model aggregates, costs to date and the prices in effect.

Sums come from the rollups (so they agree with `/api/usage/*`); costs are the stored per-record
micro-USD, whatever the model, never a price applied afresh.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import QuerySet
from django.utils import timezone

from usage.aggregation import Sums, UsageFilter, aggregate
from usage.models import ModelPrice, UsageRecord


@dataclass(frozen=True)
class Periods:
    all_time: Sums
    month: Sums
    today: Sums
    month_start: datetime
    day_start: datetime


def periods(now: datetime | None = None) -> Periods:
    """All-time, month-to-date and today's sums (UTC month and day)."""
    now = (now or timezone.now()).astimezone(UTC)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    return Periods(
        all_time=aggregate(UsageFilter()).get((), Sums()),
        month=aggregate(UsageFilter(ts_from=month_start)).get((), Sums()),
        today=aggregate(UsageFilter(ts_from=day_start)).get((), Sums()),
        month_start=month_start,
        day_start=day_start,
    )


def month_by_family(month_start: datetime) -> list[tuple[str, Sums]]:
    """Month-to-date sums per model family, costliest first."""
    groups = aggregate(UsageFilter(ts_from=month_start), ("model_family",))
    return [
        (key[0], item)
        for key, item in sorted(groups.items(), key=lambda pair: -pair[1].cost_micros)
    ]


def prices_in_effect(now: datetime | None = None) -> list[ModelPrice]:
    """The row in effect now for each model prefix, ordered by prefix."""
    now = now or timezone.now()
    latest: dict[str, ModelPrice] = {}
    for row in ModelPrice.objects.filter(effective_from__lte=now).order_by("effective_from", "id"):
        latest[row.model_prefix] = row
    return [row for _prefix, row in sorted(latest.items())]


@dataclass(frozen=True)
class FleetRecord:
    """One stored usage record as the fleet admin shows it, with its host."""

    id: int
    ts: datetime
    source: str
    user: str
    machine: str
    model: str
    model_family: str
    input: int
    cache_creation: int
    cache_read: int
    output: int
    reasoning: int
    cost_micros: int
    host_id: int | None
    host_fqdn: str | None
    line: str | None

    @property
    def total(self) -> int:
        """Every token kind once (reasoning is inside output)."""
        return self.input + self.cache_creation + self.cache_read + self.output


# The columns FleetRecord is read from, in its field order (`host__fqdn` for `host_fqdn`).
RECORD_COLUMNS = (
    "id",
    "ts",
    "source",
    "user",
    "machine",
    "model",
    "model_family",
    "input",
    "cache_creation",
    "cache_read",
    "output",
    "reasoning",
    "cost_micros",
    "host_id",
    "host__fqdn",
    "line",
)


def _fleet_records(rows: QuerySet[UsageRecord]) -> list[FleetRecord]:
    return [FleetRecord(*values) for values in rows.values_list(*RECORD_COLUMNS)]


def records_page(*, before: int | None, limit: int) -> list[FleetRecord]:
    """Newest stored records first (by id), below the id `before`, with their host."""
    rows = UsageRecord.objects.order_by("-id")
    if before is not None:
        rows = rows.filter(id__lt=before)
    return _fleet_records(rows[:limit])


def records_by_id(ids: list[int]) -> list[FleetRecord]:
    """The records with these ids (any order), with their host; one query."""
    return _fleet_records(UsageRecord.objects.filter(id__in=ids)) if ids else []


def tokens_per_machine_model(*, limit: int) -> tuple[list[tuple[tuple[str, str], Sums]], int]:
    """All-time sums per (machine (a host's FQDN), model), largest total first, at most
    `limit` of them; and how many groups there are in all."""
    groups = aggregate(UsageFilter(), ("machine", "model"))
    ordered = sorted(groups.items(), key=lambda pair: (-pair[1].tokens_raw, pair[0]))
    return ordered[:limit], len(ordered)
