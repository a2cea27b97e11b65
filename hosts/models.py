from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class HostStatus(models.TextChoices):
    ACTIVE = "active", "active"
    DISABLED = "disabled", "disabled"


class Host(models.Model):
    """A machine running `cdx`. Its API key is stored only as SHA-256."""

    fqdn = models.CharField(max_length=255, unique=True)
    owner = models.CharField(max_length=100, blank=True, default="")
    api_key_hash = models.CharField(max_length=64, unique=True)
    api_key_hint = models.CharField(max_length=16, blank=True, default="")
    bound_ip = models.GenericIPAddressField(null=True, blank=True)
    allow_roaming_ips = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=HostStatus.choices, default=HostStatus.ACTIVE)
    client_version = models.CharField(max_length=64, blank=True, default="")
    wrapper_version = models.CharField(max_length=64, blank=True, default="")
    api_calls = models.BigIntegerField(default=0)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["fqdn"]

    def __str__(self) -> str:
        return self.fqdn

    @property
    def usage_user(self) -> str:
        return self.owner or self.fqdn


class CanonicalAuth(models.Model):
    """Every accepted version of the shared `auth.json`; exactly one is current.

    `ciphertext` is the Fernet-encrypted JSON text exactly as stored and served (key order kept),
    so the digest computed over it is stable. `last_refresh_ns` is the RFC 3339 `last_refresh` in
    epoch nanoseconds, for comparisons at full precision.
    """

    ciphertext = models.TextField()
    digest = models.CharField(max_length=64, db_index=True)
    last_refresh = models.CharField(max_length=64)  # the RFC 3339 text as sent
    last_refresh_ns = models.BigIntegerField()
    source_host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=20, default="host")  # host | admin | runner
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_current"], condition=Q(is_current=True), name="one_current_auth"
            )
        ]

    def __str__(self) -> str:
        return f"{self.digest[:12]} @ {self.last_refresh}{' (current)' if self.is_current else ''}"


class HostAuthState(models.Model):
    """What a host last reported or received of the canonical auth."""

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="auth_state")
    last_refresh = models.CharField(max_length=64, blank=True, default="")
    last_refresh_ns = models.BigIntegerField(null=True, blank=True)
    digest = models.CharField(max_length=64, blank=True, default="")
    last_status = models.CharField(max_length=20, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.host} {self.last_status}"


class HostAuthDigest(models.Model):
    """The last three digests a host reported (older rows are pruned)."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="recent_digests")
    digest = models.CharField(max_length=64)
    last_refresh = models.CharField(max_length=64, blank=True, default="")
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-seen_at", "-id"]

    def __str__(self) -> str:
        return f"{self.host} {self.digest[:12]}"


class InstallerToken(models.Model):
    """A single-use installer link. The pending host key waits here encrypted until used."""

    token_hash = models.CharField(max_length=64, unique=True)
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="installer_tokens")
    pending_key_ciphertext = models.TextField(blank=True, default="")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"installer for {self.host} until {self.expires_at:%Y-%m-%d %H:%M}"


class SlashCommand(models.Model):
    """A canonical Codex prompt file (`~/.codex/prompts/<filename>`)."""

    filename = models.CharField(max_length=255, unique=True)
    prompt = models.TextField()
    sha256 = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True, default="")
    argument_hint = models.CharField(max_length=255, blank=True, default="")
    source_host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["filename"]

    def __str__(self) -> str:
        return self.filename


class ChatGptUsageSnapshot(models.Model):
    """One fetch of `{CHATGPT_BASE_URL}/wham/usage`. Failed fetches keep `ok=False` and the
    error, so the last good numbers stay readable beside the latest failure."""

    fetched_at = models.DateTimeField(default=timezone.now, db_index=True)
    auth_digest = models.CharField(max_length=64, blank=True, default="")
    ok = models.BooleanField(default=False)
    plan_type = models.CharField(max_length=50, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-fetched_at", "-id"]

    def __str__(self) -> str:
        return f"{self.fetched_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'failed'}"


class ClientVersionCache(models.Model):
    """The latest Codex release seen upstream; one row per product key."""

    key = models.CharField(max_length=50, unique=True, default="codex")
    version = models.CharField(max_length=64, blank=True, default="")
    checked_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.key} {self.version or '?'}"


class FleetSetting(models.Model):
    """Persisted fleet flags (`api_disabled`, ...) as key → JSON value."""

    key = models.CharField(max_length=100, unique=True)
    value = models.JSONField(default=None, null=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.key}={self.value!r}"
