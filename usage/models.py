from __future__ import annotations

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
        indexes = [
            models.Index(fields=["ts"], name="usage_rec_ts"),
            models.Index(fields=["user", "ts"], name="usage_rec_user_ts"),
            models.Index(fields=["machine", "ts"], name="usage_rec_machine_ts"),
            models.Index(fields=["model_family", "ts"], name="usage_rec_family_ts"),
            models.Index(fields=["host", "ts"], name="usage_rec_host_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.user}@{self.machine} {self.model}"


class UsageHourly(models.Model):
    """Rollup of UsageRecord per user × machine × model × hour, kept in the ingest transaction."""

    user = models.CharField(max_length=100)
    machine = models.CharField(max_length=255)
    model = models.CharField(max_length=200)
    model_family = models.CharField(max_length=50, default="unknown")
    hour = models.DateTimeField()
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


class ModelPrice(models.Model):
    """USD per million tokens for a model id or prefix, in effect from `effective_from` on.

    USD per million tokens is exactly micro-USD per token, so cost = Σ tokens × price.
    """

    PRICE = {"max_digits": 14, "decimal_places": 6}

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
