"""Reads for usage. Every number comes from the coarsest rollup that answers the query exactly.

A time range [from, to) is cut into whole UTC days (daily rollups), the whole hours at its edges
(hourly rollups) and the sub-hour remainders (raw records, through the `ts` indexes). Without a
range the all-time rollup answers. Without a user or machine filter, and when nothing is grouped
by user, machine or model, the per-family rollups answer instead: a few rows per hour or day,
whatever the size of the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from usage.models import UsageRecord
from usage.rollups import COUNTERS, DAILY, FAMILY_DAILY, FAMILY_HOURLY, HOURLY, TOTAL, Level

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MICROS_PER_USD = 10**6

DIMENSIONS = ("user", "machine", "model", "model_family")


@dataclass(frozen=True)
class UsageFilter:
    user: str | None = None
    machine: str | None = None
    model_family: str | None = None
    ts_from: datetime | None = None  # inclusive
    ts_to: datetime | None = None  # exclusive

    def dimension_q(self) -> Q:
        q = Q()
        for name in ("user", "machine", "model_family"):
            value = getattr(self, name)
            if value is not None:
                q &= Q(**{name: value})
        return q

    @property
    def needs_per_model_levels(self) -> bool:
        return self.user is not None or self.machine is not None


@dataclass
class Sums:
    messages: int = 0
    input: int = 0
    cache_creation: int = 0
    cache_creation_1h: int = 0
    cache_read: int = 0
    output: int = 0
    reasoning: int = 0
    tokens_weighted: int = 0
    cost_micros: int = 0

    def add_row(self, row: dict) -> None:
        for name in COUNTERS:
            self.__dict__[name] += row[name] or 0

    @property
    def tokens_raw(self) -> int:
        return self.input + self.cache_creation + self.cache_read + self.output

    @property
    def cost_usd(self) -> float:
        return self.cost_micros / MICROS_PER_USD

    def totals(self) -> dict:
        """The `totals` object of /api/usage/totals."""
        return {
            "input": self.input,
            "cacheCreation": self.cache_creation,
            "cacheRead": self.cache_read,
            "output": self.output,
            "sum": self.tokens_raw,
            "messages": self.messages,
            "costUsd": self.cost_usd,
        }


assert tuple(item.name for item in fields(Sums)) == COUNTERS


def _record_sums() -> dict:
    sums = {name: Sum(name) for name in COUNTERS[1:]}
    return {"messages": Count("id"), **sums}


def _rollup_sums() -> dict:
    return {name: Sum(name) for name in COUNTERS}


# --- Cutting a range into days, hours and raw edges.


@dataclass
class RangePlan:
    raw: list[tuple[datetime, datetime]]
    hours: list[tuple[datetime, datetime]]
    days: tuple[date | None, date | None] | None  # [first, last) with open ends as None


def _floor_hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(value: datetime) -> datetime:
    floor = _floor_hour(value)
    return floor if floor == value else floor + HOUR


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def plan_range(ts_from: datetime | None, ts_to: datetime | None) -> RangePlan:
    """Cut [ts_from, ts_to) into raw edges, whole hours and whole days (open ends allowed)."""
    plan = RangePlan(raw=[], hours=[], days=None)
    hour_lo = _ceil_hour(ts_from) if ts_from is not None else None
    hour_hi = _floor_hour(ts_to) if ts_to is not None else None
    if hour_lo is not None and hour_hi is not None and hour_lo >= hour_hi:
        if ts_from < ts_to:
            plan.raw.append((ts_from, ts_to))
        return plan
    if hour_lo is not None and ts_from < hour_lo:
        plan.raw.append((ts_from, hour_lo))
    if hour_hi is not None and hour_hi < ts_to:
        plan.raw.append((hour_hi, ts_to))

    day_lo = None
    if hour_lo is not None:
        day_lo = hour_lo.date() + (DAY if hour_lo.hour else timedelta(0))
    day_hi = hour_hi.date() if hour_hi is not None else None
    if day_lo is not None and day_hi is not None and day_lo >= day_hi:
        plan.hours.append((hour_lo, hour_hi))
        return plan
    if hour_lo is not None and hour_lo < _midnight(day_lo):
        plan.hours.append((hour_lo, _midnight(day_lo)))
    if hour_hi is not None and _midnight(day_hi) < hour_hi:
        plan.hours.append((_midnight(day_hi), hour_hi))
    plan.days = (day_lo, day_hi)
    return plan


def _range_q(column: str, ranges: Iterable[tuple]) -> Q:
    q = Q()
    for start, end in ranges:
        q |= Q(**{f"{column}__gte": start, f"{column}__lt": end})
    return q


def _days_q(days: tuple[date | None, date | None]) -> Q:
    q = Q()
    if days[0] is not None:
        q &= Q(day__gte=days[0])
    if days[1] is not None:
        q &= Q(day__lt=days[1])
    return q


def _levels(flt: UsageFilter, group_by: tuple[str, ...]) -> tuple[Level, Level, Level]:
    """(hourly, daily, all-time) levels able to answer this filter and grouping."""
    per_family = not flt.needs_per_model_levels and set(group_by) <= {"model_family"}
    if per_family:
        return FAMILY_HOURLY, FAMILY_DAILY, TOTAL
    return HOURLY, DAILY, TOTAL


def _rows(queryset: QuerySet, group_by: tuple[str, ...], sums: dict) -> list[dict]:
    if group_by:
        return list(queryset.values(*group_by).annotate(**sums).order_by())
    return [queryset.order_by().aggregate(**sums)]


def aggregate(flt: UsageFilter, group_by: tuple[str, ...] = ()) -> dict[tuple, Sums]:
    """Sums per `group_by` key (the empty key when nothing is grouped) for the filter."""
    hourly, daily, total = _levels(flt, group_by)
    dims = flt.dimension_q()
    results: dict[tuple, Sums] = {}

    def collect(rows: list[dict]) -> None:
        for row in rows:
            if row.get("messages") is None:
                continue
            key = tuple(row[name] for name in group_by)
            results.setdefault(key, Sums()).add_row(row)

    if flt.ts_from is None and flt.ts_to is None:
        collect(_rows(total.model.objects.filter(dims), group_by, _rollup_sums()))
        return results

    plan = plan_range(flt.ts_from, flt.ts_to)
    if plan.raw:
        records = UsageRecord.objects.filter(dims, _range_q("ts", plan.raw))
        collect(_rows(records, group_by, _record_sums()))
    if plan.hours:
        rows = hourly.model.objects.filter(dims, _range_q("hour", plan.hours))
        collect(_rows(rows, group_by, _rollup_sums()))
    if plan.days is not None:
        rows = daily.model.objects.filter(dims, _days_q(plan.days))
        collect(_rows(rows, group_by, _rollup_sums()))
    return results


def totals(flt: UsageFilter) -> Sums:
    return aggregate(flt).get((), Sums())


def totals_payload(
    *,
    user: str | None = None,
    machine: str | None = None,
    model_family: str | None = None,
    ts_from: datetime | None = None,
    ts_to: datetime | None = None,
) -> dict:
    """The /api/usage/totals body (also the SSE and embed payload)."""
    flt = UsageFilter(
        user=user, machine=machine, model_family=model_family, ts_from=ts_from, ts_to=ts_to
    )
    return {"totals": totals(flt).totals(), "timestamp": int(timezone.now().timestamp())}
