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

from django.db import connection, models
from django.db.models import Q

from usage.models import UsageRecord
from usage.rollups import COUNTERS, TIME_LEVELS, TOTAL, Level

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MICROS_PER_USD = 10**6
DIMENSIONS = ("user", "machine", "model_family")


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

    # Spelled out, not looped over COUNTERS with getattr/setattr: a breakdown adds and reads
    # thousands of groups per request, and the loops were most of its time (bench/reads.py).
    def add(self, values: Sequence[int], sign: int = 1) -> None:
        (
            messages,
            input_,
            cache_creation,
            cache_creation_1h,
            cache_read,
            output,
            reasoning,
            tokens_weighted,
            cost_micros,
        ) = values
        self.messages += sign * (messages or 0)
        self.input += sign * (input_ or 0)
        self.cache_creation += sign * (cache_creation or 0)
        self.cache_creation_1h += sign * (cache_creation_1h or 0)
        self.cache_read += sign * (cache_read or 0)
        self.output += sign * (output or 0)
        self.reasoning += sign * (reasoning or 0)
        self.tokens_weighted += sign * (tokens_weighted or 0)
        self.cost_micros += sign * (cost_micros or 0)

    def values(self) -> tuple[int, ...]:
        return (
            self.messages,
            self.input,
            self.cache_creation,
            self.cache_creation_1h,
            self.cache_read,
            self.output,
            self.reasoning,
            self.tokens_weighted,
            self.cost_micros,
        )

    @property
    def tokens_raw(self) -> int:
        return self.input + self.cache_creation + self.cache_read + self.output

    @property
    def cost_usd(self) -> float:
        return self.cost_micros / MICROS_PER_USD


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


# --- Reading the pieces: one UNION ALL of hand-written grouped sums.
#
# Written by hand rather than with the ORM: building and compiling a dozen annotated querysets
# per request cost several times the queries themselves, and the ORM's per-value converters and
# row dicts cost more again once a grouping has thousands of rows. Only quoted identifiers from
# model metadata and integers are put into the SQL; every value is a parameter.

TIME_COLUMN = {"raw": "ts", "hour": "hour", "day": "day"}


def levels(flt: UsageFilter, group_by: Iterable[str] = ()) -> tuple[Level, Level]:
    """The coarsest (hourly, daily) levels that have every dimension the query needs."""
    needed = set(group_by) | flt.dimensions()
    for hourly, daily in TIME_LEVELS:
        if needed <= hourly.columns:
            return hourly, daily
    raise ValueError(f"no rollup groups by {sorted(needed)}")


def epoch_slot_sql(column: str, slot_ms: int) -> str:
    """floor(epoch milliseconds / slot) of a datetime or date column."""
    slot_ms = int(slot_ms)
    if connection.vendor == "sqlite":
        # Django stores UTC text; '%f' is "SS.SSS", so seconds × 1000 + its milliseconds is exact.
        millis = (
            f"(CAST(strftime('%%s', {column}) AS INTEGER) * 1000"
            f" + CAST(substr(strftime('%%f', {column}), 4, 3) AS INTEGER))"
        )
        return f"({millis} / {slot_ms})"
    return f"FLOOR(EXTRACT(EPOCH FROM {column}) * 1000 / {slot_ms})::bigint"


def _adapt(column: str, value):
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date) and column == "day":
        return connection.ops.adapt_datefield_value(value)
    return value


@dataclass(frozen=True)
class Select:
    sql: str
    params: list


def select_sums(
    kind: str,
    ranges: Iterable[tuple],
    flt: UsageFilter,
    pair: tuple[Level, Level] | None = None,
    *,
    group_by: Sequence[str] = (),
    tag: int = 1,
    slot_ms: int | None = None,
) -> Select:
    """SELECT tag, slot?, group values…, counters… summed over one grain ("raw" records,
    "hour" or "day" rollups of `pair`, or the "total" rollup) within `ranges`, grouped.

    `tag` is a constant (a sign, or which grain a row came from) so pieces share one UNION ALL.
    """
    qn = connection.ops.quote_name
    model: type[models.Model]
    if kind == "raw":
        model = UsageRecord
    elif kind == "total":
        model = TOTAL.model
    else:
        assert pair is not None, "hour and day pieces read the levels of a pair"
        model = pair[0].model if kind == "hour" else pair[1].model
    columns = [str(int(tag))]
    if slot_ms is not None:
        columns.append(epoch_slot_sql(qn(TIME_COLUMN[kind]), slot_ms))
    columns.extend(qn(name) for name in group_by)
    grouping = list(range(2, len(columns) + 1))
    if kind == "total" and set(TOTAL.key) <= set(group_by):
        # Grouped by the whole all-time key: its rows are the answer, nothing to sum.
        columns.extend(qn(name) for name in COUNTERS)
        grouping = []
    elif kind == "raw":
        columns.append("COUNT(*)")
        columns.extend(f"CAST(SUM({qn(name)}) AS BIGINT)" for name in COUNTERS[1:])
    else:
        columns.extend(f"CAST(SUM({qn(name)}) AS BIGINT)" for name in COUNTERS)

    where, params = [], []
    for name in DIMENSIONS:
        value = getattr(flt, name)
        if value is not None:
            where.append(f"{qn(name)} = %s")
            params.append(value)
    if kind != "total":
        column = qn(TIME_COLUMN[kind])
        alternatives = []
        for start, end in ranges:
            bounds = []
            if start is not None:
                bounds.append(f"{column} >= %s")
                params.append(_adapt(TIME_COLUMN[kind], start))
            if end is not None:
                bounds.append(f"{column} < %s")
                params.append(_adapt(TIME_COLUMN[kind], end))
            alternatives.append("(" + (" AND ".join(bounds) or "1 = 1") + ")")
        where.append("(" + " OR ".join(alternatives) + ")")
    sql = f"SELECT {', '.join(columns)} FROM {qn(model._meta.db_table)}"  # noqa: S608
    if where:
        sql += " WHERE " + " AND ".join(where)
    if grouping:
        sql += " GROUP BY " + ", ".join(str(position) for position in grouping)
    return Select(sql, params)


def fetch(*selects: Select) -> list[tuple]:
    """The rows of all `selects` (same columns) in one round trip, as plain tuples."""
    if not selects:
        return []
    params = [value for select in selects for value in select.params]
    sql = " UNION ALL ".join(select.sql for select in selects)
    # A UNION ALL of a few thousand estimated rows tempts PostgreSQL's planner into a parallel
    # plan that costs several times the whole read: every connection is opened without parallel
    # workers (config/settings.py), so this is one statement, no transaction around it.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def aggregate(flt: UsageFilter, group_by: tuple[str, ...] = ()) -> dict[tuple, Sums]:
    """Sums per `group_by` key (the empty key when nothing is grouped); empty groups left out."""
    pieces = plan_range(flt.ts_from, flt.ts_to)
    if pieces is None:
        selects = [select_sums("total", [], flt, group_by=group_by)]
    else:
        pair = levels(flt, group_by)
        selects = [
            select_sums(
                piece.kind, [(piece.start, piece.end)], flt, pair, group_by=group_by, tag=piece.sign
            )
            for piece in pieces
        ]
    width = len(group_by)
    results: dict[tuple, Sums] = {}
    for sign, *row in fetch(*selects):
        if not row[width]:  # no messages: the empty aggregate of a piece
            continue
        key = tuple(row[:width])
        current = results.get(key)
        if current is None:
            # Sums of a group that has messages are not NULL.
            values = row[width:] if sign == 1 else [-value for value in row[width:]]
            results[key] = Sums(*values)
        else:
            current.add(row[width:], sign)
    return {key: item for key, item in results.items() if item.messages}
