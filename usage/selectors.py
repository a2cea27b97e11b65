"""Reads for usage. Every number comes from the coarsest rollup that answers the query exactly.

A time range [from, to) is cut into whole UTC days (daily rollups), the whole hours at its edges
(hourly rollups) and the sub-hour remainders (raw records, through the `ts` index). Without a
range the all-time rollup answers. Time rollups come in four grains (see rollups.TIME_LEVELS):
per family, per user × family, per machine × family and per user × machine × model; a query
reads the coarsest one that has the dimensions it filters or groups by, so a fleet-wide or
one-user series reads a few rows per hour or day, whatever the size of the fleet.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import BigIntegerField, Count, Func, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.errors import ApplicationError
from usage.models import UsageRecord, UsageTotal
from usage.rollups import COUNTERS, TIME_LEVELS, TOTAL, Level

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MICROS_PER_USD = 10**6

MAX_BUCKETS = 10_000
MIN_STEP_MS = 60_000
LEADERBOARD_BY = ("user", "machine", "model_family")


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

    def dimensions(self) -> set[str]:
        return {name for name in ("user", "machine", "model_family") if getattr(self, name)}


@dataclass(slots=True)
class Sums:
    """The COUNTERS of one group, in COUNTERS order."""

    messages: int = 0
    input: int = 0
    cache_creation: int = 0
    cache_creation_1h: int = 0
    cache_read: int = 0
    output: int = 0
    reasoning: int = 0
    tokens_weighted: int = 0
    cost_micros: int = 0

    def add(self, values: Sequence[int]) -> None:
        for name, value in zip(COUNTERS, values, strict=True):
            setattr(self, name, getattr(self, name) + (value or 0))

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in COUNTERS)

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


def _sums(*, records: bool) -> dict:
    """Aggregates named s_<counter>, in COUNTERS order. Cast keeps PostgreSQL's SUM(bigint) from
    becoming numeric (parsed into Decimal, then int, for every value)."""
    sums = {f"s_{name}": Cast(Sum(name), BigIntegerField()) for name in COUNTERS}
    if records:  # a record is one message
        sums["s_messages"] = Count("id")
    return sums


def _grouped(
    queryset: QuerySet,
    group_by: tuple[str, ...] = (),
    *,
    records: bool = False,
    slot: tuple[str, int] | None = None,
) -> QuerySet:
    """A grouped sum selecting (key columns…, counters…): the slot first when given, then
    `group_by`; without either, one constant key column (a constant adds no GROUP BY)."""
    sums = _sums(records=records)
    names = list(group_by)
    if slot is not None:
        queryset = queryset.annotate(s_slot=EpochSlot(slot[0], slot[1]))
        names.insert(0, "s_slot")
    if not names:
        queryset = queryset.annotate(s_all=Value(1, output_field=IntegerField()))
        names = ["s_all"]
    return queryset.order_by().values(*names).annotate(**sums).values_list(*names, *sums)


def _fetch(*querysets: QuerySet) -> list[tuple]:
    """The rows of all `querysets` (same columns) in one round trip, as plain tuples.

    One UNION ALL statement instead of one query per piece of a range, read with a plain cursor:
    the ORM's per-value converters and row dicts cost more than the query itself once a grouping
    has thousands of rows (a breakdown, a long series).
    """
    parts, params = [], []
    for queryset in querysets:
        sql, part_params = queryset.query.sql_with_params()
        parts.append(sql)
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return cursor.fetchall()


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
    """(hourly, daily, all-time) levels for this filter and grouping: the coarsest time levels
    that have every dimension the query filters or groups by."""
    needed = set(group_by) | flt.dimensions()
    for hourly, daily in TIME_LEVELS:
        if needed <= hourly.columns:
            return hourly, daily, TOTAL
    raise ValueError(f"no rollup groups by {sorted(needed)}")


def aggregate(flt: UsageFilter, group_by: tuple[str, ...] = ()) -> dict[tuple, Sums]:
    """Sums per `group_by` key (the empty key when nothing is grouped) for the filter."""
    hourly, daily, total = _levels(flt, group_by)
    dims = flt.dimension_q()
    if flt.ts_from is None and flt.ts_to is None:
        rows = total.model.objects.filter(dims)
        if set(total.key) <= set(group_by):
            # Grouped by the whole all-time key: its rows are the answer, nothing to sum.
            pieces = [rows.order_by().values_list(*group_by, *COUNTERS)]
        else:
            pieces = [_grouped(rows, group_by)]
    else:
        plan = plan_range(flt.ts_from, flt.ts_to)
        pieces = []
        if plan.raw:
            records = UsageRecord.objects.filter(dims, _range_q("ts", plan.raw))
            pieces.append(_grouped(records, group_by, records=True))
        if plan.hours:
            rows = hourly.model.objects.filter(dims, _range_q("hour", plan.hours))
            pieces.append(_grouped(rows, group_by))
        if plan.days is not None:
            pieces.append(_grouped(daily.model.objects.filter(dims, _days_q(plan.days)), group_by))

    width = len(group_by) or 1  # the constant key column when nothing is grouped
    results: dict[tuple, Sums] = {}
    for row in _fetch(*pieces):
        if not row[width]:  # no messages: the empty aggregate of a piece
            continue
        key = row[: len(group_by)]
        current = results.get(key)
        if current is None:
            results[key] = Sums(*row[width:])  # sums of a non-empty group are not NULL
        else:
            current.add(row[width:])
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


# --- Time series.


class EpochSlot(Func):
    """floor(epoch milliseconds / slot) of a datetime column, on PostgreSQL and SQLite."""

    output_field = BigIntegerField()

    def __init__(self, expression, slot_ms: int) -> None:
        super().__init__(expression)
        self.slot_ms = int(slot_ms)

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"FLOOR(EXTRACT(EPOCH FROM {sql}) * 1000 / {self.slot_ms})::bigint", params

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        # Django stores UTC text; '%f' is "SS.SSS", so seconds * 1000 + its milliseconds is exact.
        millis = (
            f"(CAST(strftime('%%s', {sql}) AS INTEGER) * 1000"
            f" + CAST(substr(strftime('%%f', {sql}), 4, 3) AS INTEGER))"
        )
        return f"({millis} / {self.slot_ms})", [*params, *params]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def epoch_ms(value: datetime) -> int:
    """Exact epoch milliseconds (floored), without going through a float."""
    return (value - EPOCH) // MILLISECOND


def from_ms_datetime(value: int) -> datetime:
    return EPOCH + value * MILLISECOND


def bucket_bounds(from_ms: int, to_ms: int, step_ms: int, tz: ZoneInfo | None) -> list[int]:
    """Bucket edges in epoch ms: bucket i is [bounds[i], bounds[i + 1]).

    Buckets are aligned to multiples of `step` since the epoch (UTC), widened to cover
    [from, to). With `tz` and a step of whole days they start at local midnights instead (so a
    bucket spans 23 or 25 hours across a DST change); `tz` does not move other steps.
    """
    if (to_ms - from_ms) // step_ms > MAX_BUCKETS + 1:  # cheap guard before building edges
        raise _too_many_buckets()
    if tz is not None and step_ms % DAY_MS == 0:
        days = step_ms // DAY_MS
        first_day = from_ms_datetime(from_ms).astimezone(tz).date()
        # Multi-day buckets start on a fixed grid of local dates (weeks start on Monday).
        ordinal = (first_day.toordinal() - 1) // days * days + 1
        bounds: list[int] = []
        while not bounds or bounds[-1] < to_ms or len(bounds) < 2:
            midnight = datetime.combine(date.fromordinal(ordinal), time(0), tzinfo=tz)
            bounds.append(epoch_ms(midnight))
            if len(bounds) > MAX_BUCKETS + 1:
                raise _too_many_buckets()
            ordinal += days
    else:
        first = from_ms // step_ms * step_ms
        count = max(1, -(-(to_ms - first) // step_ms))
        bounds = [first + index * step_ms for index in range(count + 1)]
    if len(bounds) - 1 > MAX_BUCKETS:
        raise _too_many_buckets()
    return bounds


def _too_many_buckets() -> ApplicationError:
    return ApplicationError(
        "Invalid request.",
        fields={"step": f"At most {MAX_BUCKETS} buckets; use a larger step or a shorter range."},
    )


def _slot_rows(flt: UsageFilter, bounds: list[int]) -> list[tuple]:
    """(slot start in ms, counters…) rows covering [bounds[0], bounds[-1]), each slot inside
    one bucket: days or hours from the rollups when every edge allows, else raw records."""
    hourly, daily, _total = _levels(flt, ())
    dims = flt.dimension_q()
    start, end = from_ms_datetime(bounds[0]), from_ms_datetime(bounds[-1])
    if all(bound % DAY_MS == 0 for bound in bounds):
        rows = daily.model.objects.filter(dims, day__gte=start.date(), day__lt=end.date())
        slot, found = DAY_MS, _fetch(_grouped(rows, slot=("day", DAY_MS)))
    elif all(bound % HOUR_MS == 0 for bound in bounds):
        rows = hourly.model.objects.filter(dims, hour__gte=start, hour__lt=end)
        slot, found = HOUR_MS, _fetch(_grouped(rows, slot=("hour", HOUR_MS)))
    else:
        # Slots that divide every edge, so no slot straddles two buckets.
        slot = reduce(math.gcd, bounds)
        records = UsageRecord.objects.filter(dims, ts__gte=start, ts__lt=end)
        found = _fetch(_grouped(records, records=True, slot=("ts", slot)))
    return [(row[0] * slot, *row[1:]) for row in found]


def timeseries(
    flt: UsageFilter, *, from_ms: int, to_ms: int, step_ms: int, tz: ZoneInfo | None
) -> dict:
    """Contiguous, zero-filled buckets over [from, to) (widened to whole buckets)."""
    bounds = bucket_bounds(from_ms, to_ms, step_ms, tz)
    sums = [Sums() for _ in bounds[:-1]]
    for slot_ms, *values in _slot_rows(flt, bounds):
        index = bisect.bisect_right(bounds, slot_ms) - 1
        if 0 <= index < len(sums):
            sums[index].add(values)
    return {
        "from": bounds[0],
        "to": bounds[-1],
        "step": step_ms,
        "tz": str(tz) if tz is not None else "UTC",
        "buckets": [
            {
                "ts": bound,
                "messages": item.messages,
                "tokensRaw": item.tokens_raw,
                "tokensWeighted": item.tokens_weighted,
                "costUsd": item.cost_usd,
            }
            for bound, item in zip(bounds, sums, strict=False)
        ],
    }


# --- Leaderboard, per-user detail, recent feed, breakdown.


def _tokens(item: Sums) -> dict:
    return {
        "input": item.input,
        "cacheCreation": item.cache_creation,
        "cacheRead": item.cache_read,
        "output": item.output,
        "sum": item.tokens_raw,
    }


def _by_cost(groups: dict[tuple, Sums]) -> list[tuple[tuple, Sums]]:
    """Most expensive first, then by key; groups without messages are left out."""
    items = [(key, item) for key, item in groups.items() if item.messages]
    return sorted(items, key=lambda pair: (-pair[1].cost_micros, pair[0]))


def leaderboard(flt: UsageFilter, *, by: str, limit: int) -> dict:
    groups = aggregate(flt, (by,))
    entries = [
        {
            "key": key[0],
            "messages": item.messages,
            "tokens": _tokens(item),
            "tokensWeighted": item.tokens_weighted,
            "costUsd": item.cost_usd,
        }
        for key, item in _by_cost(groups)[:limit]
    ]
    return {"by": by, "entries": entries}


def user_detail(flt: UsageFilter) -> dict | None:
    """Per-user totals with per-family and per-machine parts; None for a user never seen."""
    if not UsageTotal.objects.filter(user=flt.user).exists():
        return None
    per_family: dict[tuple, Sums] = {}
    per_machine: dict[tuple, Sums] = {}
    overall = Sums()
    for (family, machine), item in aggregate(flt, ("model_family", "machine")).items():
        values = item.values()
        per_family.setdefault((family,), Sums()).add(values)
        per_machine.setdefault((machine,), Sums()).add(values)
        overall.add(values)
    return {
        "user": flt.user,
        "totals": overall.totals(),
        "perFamily": [
            {"modelFamily": key[0], **item.totals()} for key, item in _by_cost(per_family)
        ],
        "perMachine": [{"machine": key[0], **item.totals()} for key, item in _by_cost(per_machine)],
    }


def _recent_hours(flt: UsageFilter, limit: int) -> list[tuple[datetime, datetime]]:
    """Hour ranges holding the newest `limit` records of a filtered feed, from the hourly rollup.

    Records have only the `ts` index (every index costs ingest), so a feed for one user or
    machine must not walk back through everyone's rows: every hourly row counts at least one
    message, so the newest `limit` rows cover every hour the answer can come from.
    """
    hourly, _daily, _total = _levels(flt, ())
    rows = hourly.model.objects.filter(flt.dimension_q())
    if flt.ts_from is not None:
        rows = rows.filter(hour__gte=_floor_hour(flt.ts_from))
    if flt.ts_to is not None:
        rows = rows.filter(hour__lt=flt.ts_to)
    hours = sorted(set(rows.order_by("-hour").values_list("hour", flat=True)[:limit]))
    ranges: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def recent(flt: UsageFilter, *, limit: int) -> dict:
    """The newest records, newest first."""
    records = UsageRecord.objects.all()
    if flt.ts_from is not None:
        records = records.filter(ts__gte=flt.ts_from)
    if flt.ts_to is not None:
        records = records.filter(ts__lt=flt.ts_to)
    dims = flt.dimension_q()
    if dims:
        hours = _recent_hours(flt, limit)
        if not hours:
            return {"entries": []}
        records = records.filter(dims, _range_q("ts", hours))
    rows = records.order_by("-ts", "-id").values(
        "message_id",
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
        "ts",
    )[:limit]
    return {
        "entries": [
            {
                "messageId": row["message_id"],
                "user": row["user"],
                "machine": row["machine"],
                "model": row["model"],
                "modelFamily": row["model_family"],
                "input": row["input"],
                "cacheCreation": row["cache_creation"],
                "cacheRead": row["cache_read"],
                "output": row["output"],
                "reasoning": row["reasoning"],
                "costUsd": row["cost_micros"] / MICROS_PER_USD,
                "ts": epoch_ms(row["ts"]),
            }
            for row in rows
        ]
    }


BREAKDOWN_GROUP = ("user", "machine", "model", "model_family")


def breakdown(flt: UsageFilter) -> list[dict]:
    """One row per user × machine × model, ordered by user, machine, model."""
    groups = aggregate(flt, BREAKDOWN_GROUP)
    rows = []
    for key in sorted(groups):
        item = groups[key]
        if not item.messages:
            continue
        user, machine, model, family = key
        rows.append(
            {
                "user": user,
                "machine": machine,
                "model": model,
                "modelFamily": family,
                "messages": item.messages,
                "input": item.input,
                "cacheCreation": item.cache_creation,
                "cacheCreation1h": item.cache_creation_1h,
                "cacheRead": item.cache_read,
                "output": item.output,
                "reasoning": item.reasoning,
                "tokensWeighted": item.tokens_weighted,
                "costUsd": item.cost_usd,
            }
        )
    return rows
