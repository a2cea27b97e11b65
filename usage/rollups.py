"""Rollup levels and how deltas are written to them.

Every level is a sum of UsageRecord columns over a key. Ingest adds the rows it actually inserted;
reprice adds (new − old). Both write one `INSERT … ON CONFLICT … DO UPDATE SET x = x + excluded.x`
per level, with keys sorted and levels always in the same order, so concurrent writers take row
locks in one global order and never deadlock each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db import connection, models

from usage.models import UsageDaily, UsageFamilyDaily, UsageFamilyHourly, UsageHourly, UsageTotal

# The additive columns of every rollup, in this order everywhere.
COUNTERS = (
    "messages",
    "input",
    "cache_creation",
    "cache_creation_1h",
    "cache_read",
    "output",
    "reasoning",
    "tokens_weighted",
    "cost_micros",
)
# The same numbers on a UsageRecord (a record counts as one message).
RECORD_COUNTERS = COUNTERS[1:]


@dataclass(frozen=True)
class Level:
    model: type[models.Model]
    dims: tuple[str, ...]  # key columns besides the time bucket
    bucket: str | None  # "hour", "day" or None (all time)

    @property
    def key(self) -> tuple[str, ...]:
        return self.dims + ((self.bucket,) if self.bucket else ())

    @property
    def family_is_attribute(self) -> bool:
        """Per-model levels store the family beside the key (reprice may change it)."""
        return "model_family" not in self.dims


HOURLY = Level(UsageHourly, ("user", "machine", "model"), "hour")
DAILY = Level(UsageDaily, ("user", "machine", "model"), "day")
TOTAL = Level(UsageTotal, ("user", "machine", "model"), None)
FAMILY_HOURLY = Level(UsageFamilyHourly, ("model_family",), "hour")
FAMILY_DAILY = Level(UsageFamilyDaily, ("model_family",), "day")
LEVELS = (HOURLY, DAILY, TOTAL, FAMILY_HOURLY, FAMILY_DAILY)


def hour_of(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


@dataclass
class Contribution:
    """One record's numbers as rollups see them."""

    user: str
    machine: str
    model: str
    model_family: str
    ts: datetime
    counters: tuple[int, ...]  # RECORD_COUNTERS order


@dataclass
class Deltas:
    """Summed changes per level and key, ready to write."""

    sums: dict[Level, dict[tuple, list[int]]] = field(default_factory=dict)
    families: dict[Level, dict[tuple, str]] = field(default_factory=dict)

    def add(self, item: Contribution, sign: int = 1) -> None:
        hour = hour_of(item.ts)
        values = {
            "user": item.user,
            "machine": item.machine,
            "model": item.model,
            "model_family": item.model_family,
            "hour": hour,
            "day": hour.date(),
        }
        numbers = (sign, *(sign * value for value in item.counters))
        for level in LEVELS:
            key = tuple(values[name] for name in level.key)
            sums = self.sums.setdefault(level, {})
            current = sums.get(key)
            if current is None:
                sums[key] = list(numbers)
            else:
                for index, value in enumerate(numbers):
                    current[index] += value
            if level.family_is_attribute and sign > 0:
                self.families.setdefault(level, {})[key] = item.model_family

    def extend(self, items: Iterable[Contribution], sign: int = 1) -> None:
        for item in items:
            self.add(item, sign)

    def __bool__(self) -> bool:
        return any(self.sums.values())


def _adapt(name: str, value):
    if name == "hour":
        return connection.ops.adapt_datetimefield_value(value)
    if name == "day":
        return connection.ops.adapt_datefield_value(value)
    return value


def rollups_apply(*, deltas: Deltas) -> None:
    """Add `deltas` to every level. Call inside the transaction that changed the records."""
    for level in LEVELS:
        sums = deltas.sums.get(level)
        if sums:
            _upsert(level, sums, deltas.families.get(level, {}))


def _upsert(level: Level, sums: dict[tuple, list[int]], families: dict[tuple, str]) -> None:
    qn = connection.ops.quote_name
    table = qn(level.model._meta.db_table)
    columns = list(level.key)
    if level.family_is_attribute:
        columns.append("model_family")
    columns.extend(COUNTERS)
    assignments = [f"{qn(name)} = {table}.{qn(name)} + EXCLUDED.{qn(name)}" for name in COUNTERS]
    if level.family_is_attribute:
        assignments.append(f"{qn('model_family')} = EXCLUDED.{qn('model_family')}")
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # Only quoted identifiers from model metadata are interpolated; values are parameters.
    head = f"INSERT INTO {table} ({', '.join(qn(name) for name in columns)}) VALUES "  # noqa: S608
    tail = (
        f" ON CONFLICT ({', '.join(qn(name) for name in level.key)}) "
        f"DO UPDATE SET {', '.join(assignments)}"
    )
    per_statement = max(1, (connection.features.max_query_params or 60000) // len(columns))
    keys = sorted(sums)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), per_statement):
            chunk = keys[start : start + per_statement]
            params: list = []
            for key in chunk:
                params.extend(
                    _adapt(name, value) for name, value in zip(level.key, key, strict=True)
                )
                if level.family_is_attribute:
                    params.append(families.get(key, "unknown"))
                params.extend(sums[key])
            cursor.execute(head + ", ".join([row_sql] * len(chunk)) + tail, params)


def rollups_prune() -> None:
    """Drop per-family rows a reprice emptied (their records moved to another family)."""
    for level in LEVELS:
        if not level.family_is_attribute:
            level.model.objects.filter(messages=0).delete()
