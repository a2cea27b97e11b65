from __future__ import annotations

from typing import TypedDict

from django.db import models
from django.utils import timezone


class Source(models.TextChoices):
    CLAUDE = "claude", "Claude Code"
    CODEX = "codex", "Codex CLI"


class UsageRecord(models.Model):
    """One assistant message's tokens. `message_id` is globally unique: first writer wins."""

    message_id = models.CharField(max_length=255, unique=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.CLAUDE)
    user = models.CharField(max_length=100)
    machine = models.CharField(max_length=255)
    model = models.CharField(max_length=200)
    model_family = models.CharField(max_length=50, default="unknown")
    input = models.BigIntegerField(default=0)
    cache_creation = models.BigIntegerField(default=0)  # all cache writes, both TTLs
    cache_creation_1h = models.BigIntegerField(default=0)  # the 1-hour part of them
    cache_read = models.BigIntegerField(default=0)
    output = models.BigIntegerField(default=0)  # includes reasoning for Codex
    reasoning = models.BigIntegerField(default=0)  # for display; never billed twice
    tokens_weighted = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)  # integer micro-USD
    ts = models.DateTimeField()
    ingested_at = models.DateTimeField(default=timezone.now)
    request_id = models.CharField(max_length=255, null=True, blank=True)
    host = models.ForeignKey(
        "hosts.Host", null=True, blank=True, on_delete=models.SET_NULL, related_name="usage_records"
    )
    line = models.TextField(null=True, blank=True)  # the Codex summary line, when sent

    class Meta:
        # Every index here is paid by each ingested row. Per-user, per-machine and per-family
        # reads come from the rollups; raw reads go through `ts` (a filtered recent feed first
        # finds its hours in the hourly rollup, see selectors.recent).
        indexes = [
            models.Index(fields=["ts"], name="usage_rec_ts"),
            models.Index(fields=["host", "ts"], name="usage_rec_host_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.user}@{self.machine} {self.model}"


class Counters(models.Model):
    """The additive numbers every rollup keeps; sums of the same UsageRecord columns."""

    messages = models.BigIntegerField(default=0)
    input = models.BigIntegerField(default=0)
    cache_creation = models.BigIntegerField(default=0)
    cache_creation_1h = models.BigIntegerField(default=0)
    cache_read = models.BigIntegerField(default=0)
    output = models.BigIntegerField(default=0)
    reasoning = models.BigIntegerField(default=0)
    tokens_weighted = models.BigIntegerField(default=0)
    cost_micros = models.BigIntegerField(default=0)

    class Meta:
        abstract = True


class UsageHourly(Counters):
    """Rollup of UsageRecord per user × machine × model × hour, kept in the ingest transaction."""

    user = models.CharField(max_length=100)
    machine = models.CharField(max_length=255)
    model = models.CharField(max_length=200)
    model_family = models.CharField(max_length=50, default="unknown")
    hour = models.DateTimeField()

    class Meta:
        verbose_name_plural = "usage hourly"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "machine", "model", "hour"], name="usage_hourly_key"
            )
        ]
        indexes = [
            models.Index(fields=["hour"], name="usage_hr_hour"),
            models.Index(fields=["user", "hour"], name="usage_hr_user_hour"),
            models.Index(fields=["machine", "hour"], name="usage_hr_machine_hour"),
            models.Index(fields=["model_family", "hour"], name="usage_hr_family_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.user}@{self.machine} {self.model}"


class UsageDaily(Counters):
    """Rollup per user × machine × model × UTC day: whole days of a range read from here."""

    user = models.CharField(max_length=100)
    machine = models.CharField(max_length=255)
    model = models.CharField(max_length=200)
    model_family = models.CharField(max_length=50, default="unknown")
    day = models.DateField()

    class Meta:
        verbose_name_plural = "usage daily"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "machine", "model", "day"], name="usage_daily_key"
            )
        ]
        indexes = [
            models.Index(fields=["day"], name="usage_dy_day"),
            models.Index(fields=["user", "day"], name="usage_dy_user_day"),
            models.Index(fields=["machine", "day"], name="usage_dy_machine_day"),
            models.Index(fields=["model_family", "day"], name="usage_dy_family_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.user}@{self.machine} {self.model}"


class UsageTotal(Counters):
    """All-time rollup per user × machine × model: unbounded totals, leaderboards, breakdown."""

    user = models.CharField(max_length=100)
    machine = models.CharField(max_length=255)
    model = models.CharField(max_length=200)
    model_family = models.CharField(max_length=50, default="unknown")

    class Meta:
        verbose_name_plural = "usage totals"
        constraints = [
            models.UniqueConstraint(fields=["user", "machine", "model"], name="usage_total_key")
        ]
        indexes = [
            models.Index(fields=["machine"], name="usage_tot_machine"),
            models.Index(fields=["model_family"], name="usage_tot_family"),
        ]

    def __str__(self) -> str:
        return f"{self.user}@{self.machine} {self.model}"


class UsageFamilyHourly(Counters):
    """Rollup per model family × hour: time ranges without a user or machine filter.

    A few rows per hour whatever the number of users and machines, so fleet-wide time series stay
    fast at any volume.
    """

    model_family = models.CharField(max_length=50)
    hour = models.DateTimeField()

    class Meta:
        verbose_name_plural = "usage family hourly"
        constraints = [
            models.UniqueConstraint(fields=["model_family", "hour"], name="usage_fam_hourly_key")
        ]
        indexes = [models.Index(fields=["hour"], name="usage_fhr_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.model_family}"


class UsageFamilyDaily(Counters):
    """Rollup per model family × UTC day."""

    model_family = models.CharField(max_length=50)
    day = models.DateField()

    class Meta:
        verbose_name_plural = "usage family daily"
        constraints = [
            models.UniqueConstraint(fields=["model_family", "day"], name="usage_fam_daily_key")
        ]
        indexes = [models.Index(fields=["day"], name="usage_fdy_day")]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.model_family}"


class UsageUserHourly(Counters):
    """Rollup per user × model family × hour: a user's time ranges without reading every
    machine × model row of that user.

    The time index leads with the time and carries the user, so one user's range is found in
    the index alone (a bare time index looked cheaper to the planner and cost 5× more).
    """

    user = models.CharField(max_length=100)
    model_family = models.CharField(max_length=50)
    hour = models.DateTimeField()

    class Meta:
        verbose_name_plural = "usage user hourly"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "hour", "model_family"], name="usage_user_hourly_key"
            )
        ]
        indexes = [models.Index(fields=["hour", "user"], name="usage_uhr_hour_user")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.user} {self.model_family}"


class UsageUserDaily(Counters):
    """Rollup per user × model family × UTC day."""

    user = models.CharField(max_length=100)
    model_family = models.CharField(max_length=50)
    day = models.DateField()

    class Meta:
        verbose_name_plural = "usage user daily"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "day", "model_family"], name="usage_user_daily_key"
            )
        ]
        indexes = [models.Index(fields=["day", "user"], name="usage_udy_day_user")]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.user} {self.model_family}"


class UsageMachineHourly(Counters):
    """Rollup per machine × model family × hour."""

    machine = models.CharField(max_length=255)
    model_family = models.CharField(max_length=50)
    hour = models.DateTimeField()

    class Meta:
        verbose_name_plural = "usage machine hourly"
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "hour", "model_family"], name="usage_machine_hourly_key"
            )
        ]
        indexes = [models.Index(fields=["hour", "machine"], name="usage_mhr_hour_machine")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.machine} {self.model_family}"


class UsageMachineDaily(Counters):
    """Rollup per machine × model family × UTC day."""

    machine = models.CharField(max_length=255)
    model_family = models.CharField(max_length=50)
    day = models.DateField()

    class Meta:
        verbose_name_plural = "usage machine daily"
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "day", "model_family"], name="usage_machine_daily_key"
            )
        ]
        indexes = [models.Index(fields=["day", "machine"], name="usage_mdy_day_machine")]

    def __str__(self) -> str:
        return f"{self.day:%Y-%m-%d} {self.machine} {self.model_family}"


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


class ModelPrice(models.Model):
    """USD per million tokens for a model id or prefix, in effect from `effective_from` on.

    USD per million tokens is exactly micro-USD per token, so cost = Σ tokens × price.
    """

    PRICE: _Digits = {"max_digits": 14, "decimal_places": 6}

    model_prefix = models.CharField(max_length=200)
    family = models.CharField(max_length=50)
    provider = models.CharField(max_length=20, default="")
    effective_from = models.DateTimeField()
    input = models.DecimalField(**PRICE)
    cache_write_5m = models.DecimalField(**PRICE, default=0)
    cache_write_1h = models.DecimalField(**PRICE, default=0)
    cache_read = models.DecimalField(**PRICE, default=0)
    output = models.DecimalField(**PRICE)
    long_context_threshold = models.BigIntegerField(null=True, blank=True)
    lc_input = models.DecimalField(**PRICE, null=True, blank=True)
    lc_cache_write_5m = models.DecimalField(**PRICE, null=True, blank=True)
    lc_cache_write_1h = models.DecimalField(**PRICE, null=True, blank=True)
    lc_cache_read = models.DecimalField(**PRICE, null=True, blank=True)
    lc_output = models.DecimalField(**PRICE, null=True, blank=True)
    source = models.CharField(max_length=20, default="default")  # default | import | admin
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_prefix", "effective_from"], name="model_price_prefix_from"
            )
        ]
        ordering = ["model_prefix", "effective_from"]

    def __str__(self) -> str:
        return f"{self.model_prefix} from {self.effective_from:%Y-%m-%d}"
