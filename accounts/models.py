from __future__ import annotations

from datetime import datetime

from django.db import models
from django.utils import timezone


class Scope(models.TextChoices):
    ADMIN = "admin", "admin"
    INGEST = "ingest", "ingest"
    READ = "read", "read"
    EMBED = "embed", "embed"


SCOPE_PREFIX = {Scope.ADMIN: "wa_", Scope.INGEST: "wi_", Scope.READ: "wr_", Scope.EMBED: "we_"}


class ApiToken(models.Model):
    """A scoped bearer token. Only its SHA-256 is stored; the plaintext is shown once."""

    user = models.CharField(max_length=100)
    scope = models.CharField(max_length=10, choices=Scope.choices)
    label = models.CharField(max_length=200, blank=True, default="")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=16, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.CharField(max_length=200, blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "scope"])]

    def __str__(self) -> str:
        return f"{self.hint} ({self.scope} for {self.user})"

    def is_active(self, at: datetime | None = None) -> bool:
        at = at or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > at


class AuditEvent(models.Model):
    """One row per auditable action anywhere in the server. `meta` never holds a secret."""

    ts = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=200, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    meta = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["ts", "id"]

    def __str__(self) -> str:
        return f"{self.ts:%Y-%m-%d %H:%M:%S} {self.action} by {self.actor or '-'}"
