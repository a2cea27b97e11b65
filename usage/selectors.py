"""Reads for usage, computed from the rollups (see aggregation). They return data (Sums, rows,
dataclasses); usage/serializers.py shapes the answers of the API, the CSV and the live stream."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import F, Sum
from django.utils import timezone

from core.errors import ApplicationError
from core.time import EPOCH, epoch_ms, from_epoch_ms
from usage.aggregation import (
    DAY_MS,
    DIMENSIONS,
    HOUR,
    HOUR_MS,
    Sums,
    UsageFilter,
    aggregate,
    correction,
    fetch,
    floor_hour,
    levels,
    plan_range,
    select_sums,
)
from usage.models import UsageRecord, UsageTotal
from usage.pricing import UNKNOWN_FAMILY
from usage.rollups import RECORD_COUNTERS

MAX_BUCKETS = 10_000
MIN_STEP_MS = 60_000
LEADERBOARD_BY = ("user", "machine", "model_family")
# Above this many correction pieces a series reads its whole span instead of OR-ing ranges.
MAX_CORRECTION_RANGES = 200


def totals(flt: UsageFilter) -> Sums:
    return aggregate(flt).get((), Sums())


# --- Time series.


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
        first_day = from_epoch_ms(from_ms).astimezone(tz).date()
        # Multi-day buckets start on a fixed grid of local dates (weeks start on Monday).
        ordinal = (first_day.toordinal() - 1) // days * days + 1
        bounds: list[int] = []
        while not bounds or bounds[-1] < to_ms or len(bounds) < 2:
            local_midnight = datetime.combine(date.fromordinal(ordinal), time(0), tzinfo=tz)
            bounds.append(epoch_ms(local_midnight))
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


def _slot_sums(flt: UsageFilter, bounds: list[int], sums: list[Sums]) -> None:
    """Hour or raw slots that each fall inside one bucket, added to that bucket."""
    span = [(from_epoch_ms(bounds[0]), from_epoch_ms(bounds[-1]))]
    if all(bound % HOUR_MS == 0 for bound in bounds):
        slot = HOUR_MS
        select = select_sums("hour", span, flt, levels(flt), slot_ms=slot)
    else:
        # Slots that divide every edge, so no slot straddles two buckets.
        slot = reduce(math.gcd, bounds)
        select = select_sums("raw", span, flt, slot_ms=slot)
    for _tag, number, *values in fetch(select):
        index = bisect.bisect_right(bounds, number * slot) - 1
        if 0 <= index < len(sums):
            sums[index].add(values)


def _day_sums(flt: UsageFilter, bounds: list[int], sums: list[Sums]) -> None:
    """Buckets of whole (possibly local) days: bucket i = days[d_i, d_i+1) + C_i+1 − C_i, with
    d and C from aggregation.correction. Local midnights cost a few hours per edge rather than
    every hour of the range; UTC midnights cost nothing more than the daily rows."""
    pair = levels(flt)
    days: list[int] = []
    corrections: dict[str, list[tuple[int, int, int, int]]] = {"hour": [], "raw": []}
    for edge, bound in enumerate(bounds):
        day, day_pieces = correction(from_epoch_ms(bound))
        days.append(epoch_ms(day))
        for piece in day_pieces:
            assert isinstance(piece.start, datetime) and isinstance(piece.end, datetime)
            corrections[piece.kind].append(
                (epoch_ms(piece.start), epoch_ms(piece.end), piece.sign, edge)
            )

    # The tag column says which grain a row comes from: 1 days, 2 hours, 3 raw slots.
    span = [(from_epoch_ms(days[0]).date(), from_epoch_ms(days[-1]).date())]
    selects = [select_sums("day", span, flt, pair, slot_ms=DAY_MS, tag=1)]
    slot_of = {"hour": HOUR_MS}
    for tag, kind in ((2, "hour"), (3, "raw")):
        pieces = corrections[kind] = sorted(corrections[kind])
        if not pieces:
            continue
        if kind == "raw":
            slot_of[kind] = reduce(math.gcd, [edge for piece in pieces for edge in piece[:2]])
        ranges = [(start, end) for start, end, _sign, _edge in pieces]
        if len(ranges) > MAX_CORRECTION_RANGES:
            ranges = [(ranges[0][0], max(end for _start, end in ranges))]
        as_times = [(from_epoch_ms(start), from_epoch_ms(end)) for start, end in ranges]
        selects.append(select_sums(kind, as_times, flt, pair, slot_ms=slot_of[kind], tag=tag))

    starts = {kind: [piece[0] for piece in pieces] for kind, pieces in corrections.items()}
    for tag, number, *values in fetch(*selects):
        if tag == 1:
            index = bisect.bisect_right(days, number * DAY_MS) - 1
            if 0 <= index < len(sums):
                sums[index].add(values)
            continue
        kind = "hour" if tag == 2 else "raw"
        slot_ms = number * slot_of[kind]
        # Correction pieces of one grain never overlap: edges are at least 23 hours apart and
        # each piece lies within 12.5 hours of its own edge.
        position = bisect.bisect_right(starts[kind], slot_ms) - 1
        if position < 0:
            continue
        start, end, sign, edge = corrections[kind][position]
        if not start <= slot_ms < end:
            continue  # read only because a long series reads its whole span
        # C of edge i counts + in bucket i − 1 and − in bucket i.
        if edge > 0:
            sums[edge - 1].add(values, sign)
        if edge < len(sums):
            sums[edge].add(values, -sign)


@dataclass(frozen=True)
class Series:
    """Buckets [bounds[i], bounds[i + 1]) in epoch ms, with their sums."""

    bounds: list[int]
    sums: list[Sums]
    step_ms: int
    tz: ZoneInfo | None


def timeseries(
    flt: UsageFilter, *, from_ms: int, to_ms: int, step_ms: int, tz: ZoneInfo | None
) -> Series:
    """Contiguous, zero-filled buckets over [from, to) (widened to whole buckets)."""
    bounds = bucket_bounds(from_ms, to_ms, step_ms, tz)
    sums = [Sums() for _ in bounds[:-1]]
    if step_ms % DAY_MS == 0:
        _day_sums(flt, bounds, sums)
    else:
        _slot_sums(flt, bounds, sums)
    return Series(bounds, sums, step_ms, tz)


# --- Leaderboard, per-user detail, recent feed, breakdown.


def _by_cost(groups: dict[tuple, Sums]) -> list[tuple[tuple, Sums]]:
    """Most expensive first, then by key; groups without messages are left out."""
    items = [(key, item) for key, item in groups.items() if item.messages]
    return sorted(items, key=lambda pair: (-pair[1].cost_micros, pair[0]))


def leaderboard(flt: UsageFilter, *, by: str, limit: int) -> list[tuple[str, Sums]]:
    """The `limit` most expensive keys of dimension `by`, with their sums."""
    return leaderboard_of(aggregate(flt, (by,)), limit=limit)


def leaderboard_of(groups: dict[tuple, Sums], *, limit: int) -> list[tuple[str, Sums]]:
    """The leaderboard of sums already grouped by one dimension (keys of one element), in the
    order `leaderboard` answers: for a page that has finer groups in hand and sums them up."""
    return [(key[0], item) for key, item in _by_cost(groups)[:limit]]


@dataclass(frozen=True)
class UserDetail:
    user: str
    overall: Sums
    per_family: list[tuple[str, Sums]]  # most expensive first
    per_machine: list[tuple[str, Sums]]


def user_detail(flt: UsageFilter) -> UserDetail | None:
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
    return UserDetail(
        user=flt.user or "",
        overall=overall,
        per_family=[(key[0], item) for key, item in _by_cost(per_family)],
        per_machine=[(key[0], item) for key, item in _by_cost(per_machine)],
    )


def _recent_hours(flt: UsageFilter, limit: int) -> list[tuple[datetime, datetime]]:
    """Hour ranges holding the newest `limit` records of a filtered feed, from a rollup.

    Records have only the `ts` index (every index costs ingest), so a feed for one user or
    machine must not walk back through everyone's rows. The rollup counts each hour's messages
    exactly, so the newest hours until `limit` messages are all the feed can come from.
    """
    hourly, _daily = levels(flt)
    qn = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    where, params = _dimension_where(flt)
    if flt.ts_from is not None:
        where.append(f"{qn('hour')} >= %s")
        params.append(adapt(floor_hour(flt.ts_from)))
    if flt.ts_to is not None:
        where.append(f"{qn('hour')} < %s")
        params.append(adapt(flt.ts_to))
    params.append(int(limit))
    sql = (
        f"SELECT {epoch_us_sql(qn('hour'))}, {qn('messages')} "  # noqa: S608
        f"FROM {qn(hourly.model._meta.db_table)} WHERE {' AND '.join(where)} "
        f"ORDER BY {qn('hour')} DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [(as_datetime(hour), messages) for hour, messages in cursor.fetchall()]
    hours: list[datetime] = []
    seen = 0
    # Every rollup row counts at least one message, so `limit` rows always suffice.
    for hour, messages in rows:
        if seen >= limit and hour != hours[-1]:
            break
        if not hours or hours[-1] != hour:
            hours.append(hour)
        seen += messages
    ranges: list[tuple[datetime, datetime]] = []
    for hour in reversed(hours):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


RECENT_FIELDS = ("message_id", "user", "machine", "model", "model_family", *RECORD_COUNTERS, "ts")


def epoch_us_sql(column: str) -> str:
    """A datetime column as the database hands it to `as_datetime`: on PostgreSQL, epoch
    microseconds (exact: EXTRACT gives numeric), because psycopg's timestamptz loader looks the
    session time zone up for every query, a quarter of a small read's CPU."""
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    return column


def as_datetime(value: Any) -> datetime:
    """An aware datetime from a column read through `epoch_us_sql`."""
    if isinstance(value, int):
        return EPOCH + timedelta(microseconds=value)
    if timezone.is_naive(value):  # SQLite hands the stored UTC text back as naive datetimes
        return timezone.make_aware(value, connection.timezone)
    return value


def _dimension_where(flt: UsageFilter) -> tuple[list[str], list[Any]]:
    qn = connection.ops.quote_name
    where: list[str] = []
    params: list[Any] = []
    for name in DIMENSIONS:
        value = getattr(flt, name)
        if value is not None:
            where.append(f"{qn(name)} = %s")
            params.append(value)
    return where, params


def recent(flt: UsageFilter, *, limit: int) -> list[dict[str, Any]]:
    """The newest records as rows of RECENT_FIELDS, newest first.

    Hand-written SELECTs (as aggregation's reads): building and compiling the querysets and
    their per-value converters cost more than the indexed queries themselves, and this feed is
    polled by every open dashboard and widget."""
    qn = connection.ops.quote_name
    adapt = connection.ops.adapt_datetimefield_value
    where: list[str] = []
    params: list[Any] = []
    if flt.ts_from is not None:
        where.append(f"{qn('ts')} >= %s")
        params.append(adapt(flt.ts_from))
    if flt.ts_to is not None:
        where.append(f"{qn('ts')} < %s")
        params.append(adapt(flt.ts_to))
    if flt.dimensions():
        hours = _recent_hours(flt, limit)
        if not hours:
            return []
        dimensions, values = _dimension_where(flt)
        where.extend(dimensions)
        params.extend(values)
        where.append(
            "(" + " OR ".join(f"({qn('ts')} >= %s AND {qn('ts')} < %s)" for _hour in hours) + ")"
        )
        params.extend(adapt(bound) for hour in hours for bound in hour)
    columns = [qn(name) for name in RECENT_FIELDS[:-1]]
    columns.append(epoch_us_sql(qn("ts")))
    sql = (
        f"SELECT {', '.join(columns)} "  # noqa: S608
        f"FROM {qn(UsageRecord._meta.db_table)}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {qn('ts')} DESC, {qn('id')} DESC LIMIT %s"
    )
    params.append(int(limit))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    entries = [dict(zip(RECENT_FIELDS, row, strict=True)) for row in rows]
    for entry in entries:
        entry["ts"] = as_datetime(entry["ts"])
    return entries


BREAKDOWN_GROUP = ("user", "machine", "model", "model_family")
# One breakdown row: the BREAKDOWN_GROUP names, then the COUNTERS (cost in micro-USD).
BreakdownRow = tuple[str, str, str, str, int, int, int, int, int, int, int, int, int]
# (user, machine, model_family, messages, tokens_weighted, cost_micros).
FamilyCost = tuple[str, str, str, int, int, int]


def breakdown_table(flt: UsageFilter) -> list[BreakdownRow]:
    """One row per (user, machine, model, model_family) with messages, in key order.

    Flat tuples rather than `breakdown`'s (key, Sums) pairs: at 2,000 groups the API writes its
    answer from these in a few milliseconds, and the pairs cost as much again to build and read.
    """
    pieces = plan_range(flt.ts_from, flt.ts_to)
    if pieces is None or (len(pieces) == 1 and pieces[0].sign == 1):
        # All time, or one grain added up (whole UTC days or hours, as the dashboard asks): one
        # grouped SELECT whose rows are the groups, with nothing more to add up.
        if pieces is None:
            select = select_sums("total", [], flt, group_by=BREAKDOWN_GROUP)
        else:
            piece = pieces[0]
            select = select_sums(
                piece.kind,
                [(piece.start, piece.end)],
                flt,
                levels(flt, BREAKDOWN_GROUP),
                group_by=BREAKDOWN_GROUP,
            )
        rows = [row[1:] for row in fetch(select) if row[5]]
    else:
        groups = aggregate(flt, BREAKDOWN_GROUP)
        rows = [(*key, *item.values()) for key, item in groups.items()]
    rows.sort()  # keys are unique, so this is key order
    return rows


def breakdown(flt: UsageFilter) -> list[tuple[tuple[str, str, str, str], Sums]]:
    """((user, machine, model, model_family), sums) per group with messages, in key order."""
    return [(row[:4], Sums(*row[4:])) for row in breakdown_table(flt)]


def breakdown_by_family(rows: list[BreakdownRow]) -> list[FamilyCost]:
    """The breakdown's messages, weighted tokens and cost summed per (user, machine,
    model_family), in key order."""
    per_family: dict[tuple[str, str, str], list[int]] = {}
    for row in rows:
        key = (row[0], row[1], row[3])
        messages, weighted, cost = row[4], row[11], row[12]
        sums = per_family.get(key)
        if sums is None:
            per_family[key] = [messages, weighted, cost]
        else:
            sums[0] += messages
            sums[1] += weighted
            sums[2] += cost
    return [(*key, *sums) for key, sums in sorted(per_family.items())]  # type: ignore[misc]


# --- Models without a price.


@dataclass(frozen=True)
class UnpricedModel:
    model: str
    messages: int
    tokens: int  # input + cache writes + cache reads + output


def unpriced_models() -> list[UnpricedModel]:
    """Models whose records no price matched (family `unknown`, cost 0), from the all-time
    rollup, by model: the dashboard lists them so an operator can add a price and `reprice`.
    The model `unknown` (ingested with `model: null`) is always among them."""
    rows = (
        UsageTotal.objects.filter(model_family=UNKNOWN_FAMILY, messages__gt=0)
        .values("model")
        .annotate(
            messages_sum=Sum("messages"),
            tokens_sum=Sum(F("input") + F("cache_creation") + F("cache_read") + F("output")),
        )
        .order_by("model")
    )
    return [
        UnpricedModel(model=row["model"], messages=row["messages_sum"], tokens=row["tokens_sum"])
        for row in rows
    ]
