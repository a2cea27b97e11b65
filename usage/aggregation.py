"""Summing usage over dimensions and time from the rollups, exactly and with few rows.

A time range is written as signed pieces of three grains: whole UTC days (daily rollups), whole
hours (hourly rollups) and the remainders below an hour (raw records, through the `ts` index).
Each end of a range is rounded to its nearest hour and that hour to its nearest midnight, and the
difference is added or subtracted:

    [a, b) = −C(a) + days[d(a), d(b)) + C(b),   C(x) = ±hours between d(x) and the hour nearest
                                                       x, ±raw records between that hour and x

so whatever the range, at most 12 hours of hourly rows and 30 minutes of records are read at
each end. Ranges under a day use hours and raw edges only, ranges under an hour raw records only;
without a range the all-time rollup answers.

Time rollups come in four grains (rollups.TIME_LEVELS): per family, per user × family, per
machine × family and per user × machine × model. A query reads the coarsest one that has every
dimension it filters or groups by, so a fleet-wide or one-user query reads a few rows per hour or
day, whatever the size of the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import BigIntegerField, Count, Func, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast

from usage.models import UsageRecord
from usage.rollups import COUNTERS, TIME_LEVELS, TOTAL, Level

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MICROS_PER_USD = 10**6
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
DIMENSIONS = ("user", "machine", "model_family")


def epoch_ms(value: datetime) -> int:
    """Exact epoch milliseconds (floored), without going through a float."""
    return (value - EPOCH) // MILLISECOND


def from_ms_datetime(value: int) -> datetime:
    return EPOCH + value * MILLISECOND


@dataclass(frozen=True)
class UsageFilter:
    user: str | None = None
    machine: str | None = None
    model_family: str | None = None
    ts_from: datetime | None = None  # inclusive
    ts_to: datetime | None = None  # exclusive

    def dimension_q(self) -> Q:
        q = Q()
        for name in DIMENSIONS:
            value = getattr(self, name)
            if value is not None:
                q &= Q(**{name: value})
        return q

    def dimensions(self) -> set[str]:
        return {name for name in DIMENSIONS if getattr(self, name) is not None}


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

    def add(self, values: Sequence[int], sign: int = 1) -> None:
        for name, value in zip(COUNTERS, values, strict=True):
            setattr(self, name, getattr(self, name) + sign * (value or 0))

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


# --- Cutting a range into signed pieces.


@dataclass(frozen=True)
class Piece:
    kind: str  # "raw" (records), "hour" or "day" (rollups)
    start: datetime | date | None  # None: open
    end: datetime | date | None
    sign: int = 1


def _signed(kind: str, start, end) -> list[Piece]:
    """The interval from `start` to `end`: added when it runs forward, subtracted backward."""
    if start < end:
        return [Piece(kind, start, end, 1)]
    if end < start:
        return [Piece(kind, end, start, -1)]
    return []


def _negated(pieces: Iterable[Piece]) -> list[Piece]:
    return [replace(piece, sign=-piece.sign) for piece in pieces]


def floor_hour(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _nearest_hour(value: datetime) -> datetime:
    floor = floor_hour(value)
    return floor if value - floor <= HOUR / 2 else floor + HOUR


def _nearest_midnight(value: datetime) -> datetime:
    floor = midnight(value.astimezone(UTC).date())
    return floor if value - floor <= DAY / 2 else floor + DAY


def correction(point: datetime) -> tuple[datetime, list[Piece]]:
    """(d, C): the midnight nearest `point` and the signed pieces with (−∞, point) =
    (−∞, d) + C: hours between d and the hour nearest `point`, then raw records to `point`."""
    hour = _nearest_hour(point)
    day = _nearest_midnight(hour)
    return day, [*_signed("hour", day, hour), *_signed("raw", hour, point)]


def plan_range(ts_from: datetime | None, ts_to: datetime | None) -> list[Piece] | None:
    """Signed pieces whose sum is exactly [ts_from, ts_to); None for all time."""
    if ts_from is None and ts_to is None:
        return None
    if ts_from is not None and ts_to is not None:
        if ts_to - ts_from < HOUR:
            return _signed("raw", ts_from, ts_to)
        if ts_to - ts_from < DAY:
            start, end = _nearest_hour(ts_from), _nearest_hour(ts_to)
            return [
                *_signed("raw", ts_from, start),
                *_signed("hour", start, end),
                *_signed("raw", end, ts_to),
            ]
    pieces: list[Piece] = []
    first_day = last_day = None
    if ts_from is not None:
        day, head = correction(ts_from)
        first_day = day.date()
        pieces.extend(_negated(head))
    if ts_to is not None:
        day, tail = correction(ts_to)
        last_day = day.date()
        pieces.extend(tail)
    if first_day is None or last_day is None:
        pieces.append(Piece("day", first_day, last_day))
    else:
        pieces.extend(_signed("day", first_day, last_day))
    return pieces


# --- Reading the pieces.


class EpochSlot(Func):
    """floor(epoch milliseconds / slot) of a datetime or date column (PostgreSQL and SQLite)."""

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


def levels(flt: UsageFilter, group_by: Iterable[str] = ()) -> tuple[Level, Level]:
    """The coarsest (hourly, daily) levels that have every dimension the query needs."""
    needed = set(group_by) | flt.dimensions()
    for hourly, daily in TIME_LEVELS:
        if needed <= hourly.columns:
            return hourly, daily
    raise ValueError(f"no rollup groups by {sorted(needed)}")


def range_q(column: str, ranges: Iterable[tuple]) -> Q:
    q = Q()
    for start, end in ranges:
        bounds = {}
        if start is not None:
            bounds[f"{column}__gte"] = start
        if end is not None:
            bounds[f"{column}__lt"] = end
        q |= Q(**bounds)
    return q


def piece_rows(kind: str, ranges: Iterable[tuple], flt: UsageFilter, pair: tuple) -> QuerySet:
    """The rows of one grain within `ranges`: records, or the hourly or daily level of `pair`."""
    if kind == "raw":
        return UsageRecord.objects.filter(flt.dimension_q(), range_q("ts", ranges))
    hourly, daily = pair
    if kind == "hour":
        return hourly.model.objects.filter(flt.dimension_q(), range_q("hour", ranges))
    return daily.model.objects.filter(flt.dimension_q(), range_q("day", ranges))


def grouped(
    queryset: QuerySet,
    group_by: Sequence[str] = (),
    *,
    records: bool = False,
    sign: int = 1,
    slot: tuple[str, int] | None = None,
) -> QuerySet:
    """A grouped sum selecting (sign, slot?, group values…, counters…).

    The sign is a constant column (a constant adds no GROUP BY), so signed pieces can share one
    UNION ALL. Cast keeps PostgreSQL's SUM(bigint) from becoming numeric (parsed into Decimal,
    then int, for every value).
    """
    sums = {f"s_{name}": Cast(Sum(name), BigIntegerField()) for name in COUNTERS}
    if records:  # a record is one message
        sums["s_messages"] = Count("id")
    queryset = queryset.annotate(s_sign=Value(sign, output_field=IntegerField()))
    names = ["s_sign"]
    if slot is not None:
        queryset = queryset.annotate(s_slot=EpochSlot(*slot))
        names.append("s_slot")
    names.extend(group_by)
    return queryset.order_by().values(*names).annotate(**sums).values_list(*names, *sums)


def fetch(*querysets: QuerySet) -> list[tuple]:
    """The rows of all `querysets` (same columns) in one round trip, as plain tuples.

    One UNION ALL statement instead of one query per piece, read with a plain cursor: the ORM's
    per-value converters and row dicts cost more than the query itself once a grouping has
    thousands of rows (a breakdown, a long series).
    """
    if not querysets:
        return []
    parts, params = [], []
    for queryset in querysets:
        sql, part_params = queryset.query.sql_with_params()
        parts.append(sql)
        params.extend(part_params)
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        return cursor.fetchall()


def aggregate(flt: UsageFilter, group_by: tuple[str, ...] = ()) -> dict[tuple, Sums]:
    """Sums per `group_by` key (the empty key when nothing is grouped); empty groups left out."""
    pieces = plan_range(flt.ts_from, flt.ts_to)
    if pieces is None:
        rows = TOTAL.model.objects.filter(flt.dimension_q())
        if set(TOTAL.key) <= set(group_by):
            # Grouped by the whole all-time key: its rows are the answer, nothing to sum.
            plain = rows.order_by().annotate(s_sign=Value(1, output_field=IntegerField()))
            querysets = [plain.values_list("s_sign", *group_by, *COUNTERS)]
        else:
            querysets = [grouped(rows, group_by)]
    else:
        pair = levels(flt, group_by)
        querysets = [
            grouped(
                piece_rows(piece.kind, [(piece.start, piece.end)], flt, pair),
                group_by,
                records=piece.kind == "raw",
                sign=piece.sign,
            )
            for piece in pieces
        ]
    width = len(group_by)
    results: dict[tuple, Sums] = {}
    for sign, *row in fetch(*querysets):
        if not row[width]:  # no messages: the empty aggregate of a piece
            continue
        key = tuple(row[:width])
        current = results.get(key)
        if current is None:
            current = results[key] = Sums()
        current.add(row[width:], sign)
    return {key: item for key, item in results.items() if item.messages}
