"""Rollup levels and how deltas are written to them.

Every level is a sum of UsageRecord columns over a key. Ingest adds the rows it actually inserted;
reprice adds (new − old). Both write one `INSERT … ON CONFLICT … DO UPDATE SET x = x + excluded.x`
per level, with keys sorted and levels always in the same order, so concurrent writers take row
locks in one global order and never deadlock each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, models

from usage.bodycache import data_version_bump
from usage.bulk import insert_rows, pipelined
from usage.models import (
    UsageDaily,
    UsageFamilyDaily,
    UsageFamilyHourly,
    UsageHourly,
    UsageMachineDaily,
    UsageMachineHourly,
    UsageTotal,
    UsageUserDaily,
    UsageUserHourly,
)

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

    @property
    def columns(self) -> frozenset[str]:
        """The dimensions a read can filter or group by on this level."""
        return frozenset((*self.dims, "model_family"))


HOURLY = Level(UsageHourly, ("user", "machine", "model"), "hour")
DAILY = Level(UsageDaily, ("user", "machine", "model"), "day")
TOTAL = Level(UsageTotal, ("user", "machine", "model"), None)
FAMILY_HOURLY = Level(UsageFamilyHourly, ("model_family",), "hour")
FAMILY_DAILY = Level(UsageFamilyDaily, ("model_family",), "day")
USER_HOURLY = Level(UsageUserHourly, ("user", "model_family"), "hour")
USER_DAILY = Level(UsageUserDaily, ("user", "model_family"), "day")
MACHINE_HOURLY = Level(UsageMachineHourly, ("machine", "model_family"), "hour")
MACHINE_DAILY = Level(UsageMachineDaily, ("machine", "model_family"), "day")
# (hourly, daily) pairs, coarsest first: a read takes the first pair that has its dimensions.
TIME_LEVELS = (
    (FAMILY_HOURLY, FAMILY_DAILY),
    (USER_HOURLY, USER_DAILY),
    (MACHINE_HOURLY, MACHINE_DAILY),
    (HOURLY, DAILY),
)
# Written in this order by everyone (see the module docstring).
LEVELS = (
    HOURLY,
    DAILY,
    TOTAL,
    FAMILY_HOURLY,
    FAMILY_DAILY,
    USER_HOURLY,
    USER_DAILY,
    MACHINE_HOURLY,
    MACHINE_DAILY,
)


def hour_of(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class Deltas:
    """Changes summed per user × machine × model × family × hour, ready to write.

    Every level is a coarser grouping of these keys, so one dictionary update per record is
    all the per-row work; the levels are derived from the (few) summed keys when written.
    """

    hours: dict[tuple, list[int]] = field(default_factory=dict)
    # Keys that received an addition: a per-model level takes its family from those (reprice
    # subtracts the old family's numbers and adds the new family's).
    added: set[tuple] = field(default_factory=set)

    def add(self, key: tuple, counters: Sequence[int], sign: int = 1) -> None:
        """`key` = (user, machine, model, model_family, hour); counters in RECORD_COUNTERS order."""
        current = self.hours.get(key)
        if current is None:
            self.hours[key] = [sign, *(sign * value for value in counters)]
        else:
            current[0] += sign
            for index, value in enumerate(counters, 1):
                current[index] += sign * value
        if sign > 0:
            self.added.add(key)

    def level(self, level: Level) -> tuple[dict[tuple, list[int]], dict[tuple, str]]:
        """(sums per key of `level`, family per key for per-model levels)."""
        sums: dict[tuple, list[int]] = {}
        families: dict[tuple, str] = {}
        for fine, numbers in self.hours.items():
            user, machine, model, family, hour = fine
            values = {
                "user": user,
                "machine": machine,
                "model": model,
                "model_family": family,
                "hour": hour,
                "day": hour.date(),
            }
            key = tuple(values[name] for name in level.key)
            current = sums.get(key)
            if current is None:
                sums[key] = list(numbers)
            else:
                for index, value in enumerate(numbers):
                    current[index] += value
            if level.family_is_attribute and (fine in self.added or key not in families):
                families[key] = family
        return sums, families

    def __bool__(self) -> bool:
        return bool(self.hours)


def _adapt(name: str, value):
    if name == "hour":
        return connection.ops.adapt_datetimefield_value(value)
    if name == "day":
        return connection.ops.adapt_datefield_value(value)
    return value


def rollups_apply(*, deltas: Deltas) -> None:
    """Add `deltas` to every level. Call inside the transaction that changed the records.

    Every change to records and rollups comes through here, so here the cached usage answers
    are retired (usage.bodycache). `rollups_prune` after it removes only empty rows, which no
    answer shows."""
    if not deltas:
        return
    data_version_bump()
    with pipelined():
        for level in LEVELS:
            sums, families = deltas.level(level)
            _upsert(level, sums, families)


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
    rows = []
    for key in sorted(sums):
        row = [_adapt(name, value) for name, value in zip(level.key, key, strict=True)]
        if level.family_is_attribute:
            row.append(families.get(key, "unknown"))
        row.extend(sums[key])
        rows.append(tuple(row))
    insert_rows(
        model=level.model,
        columns=tuple(columns),
        rows=rows,
        suffix=(
            f"ON CONFLICT ({', '.join(qn(name) for name in level.key)}) "
            f"DO UPDATE SET {', '.join(assignments)}"
        ),
    )


def rollups_prune() -> None:
    """Drop per-family rows a reprice emptied (their records moved to another family)."""
    for level in LEVELS:
        if not level.family_is_attribute:
            level.model._default_manager.filter(messages=0).delete()
