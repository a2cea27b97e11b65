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
    source = models.CharField(max_length=20, default="host")  # host | admin | runner (refresh)
    is_current = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # The runner's last check of this login against the quota endpoint: a 401/403 there sets
    # `invalid_at` (shown in /admin/overview and /admin/runner); a later good answer clears it.
    checked_at = models.DateTimeField(null=True, blank=True)
    invalid_at = models.DateTimeField(null=True, blank=True)
    check_error = models.CharField(max_length=500, blank=True, default="")
    # The access token's JWT `exp` (read without verifying the signature, only to schedule the
    # runner's refresh and to show it). Null when the token is not a JWT with an `exp`.
    access_expires_at = models.DateTimeField(null=True, blank=True)
    # The runner's refresh of this login (hosts.fleetauth.refresh): a transient failure counts an
    # attempt and sets when to retry; a permanent one (refresh token expired, reused, revoked)
    # sets `refresh_failed_at` and nothing retries until another login becomes current.
    refresh_attempts = models.IntegerField(default=0)
    refresh_retry_at = models.DateTimeField(null=True, blank=True)
    refresh_error = models.CharField(max_length=500, blank=True, default="")
    refresh_failed_at = models.DateTimeField(null=True, blank=True)

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
    # Retired by an admin: kept so `/slash-commands/retrieve` answers `deleted` and clients
    # remove their copy; absent from the lists.
    deleted_at = models.DateTimeField(null=True, blank=True)

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


class RunnerStep(models.Model):
    """One periodic step of `manage.py runner` and its schedule.

    A runner takes a step with one conditional UPDATE (due, and not claimed by a live lease), so
    two runners, or two servers, never run the same step at once. `requested_at` is a request to
    run it early (a new login, a stale value a request noticed); the run clears it only when the
    request is older than the run's start.
    """

    name = models.CharField(max_length=50, unique=True)
    next_due_at = models.DateTimeField(default=timezone.now)
    requested_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=20, blank=True, default="")
    last_detail = models.CharField(max_length=500, blank=True, default="")
    runs = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} due {self.next_due_at:%Y-%m-%d %H:%M:%S}"


class RunnerCycle(models.Model):
    """One runner cycle that did something (or was asked for): who, when, each step's outcome."""

    trigger = models.CharField(max_length=20)  # loop | once | manual
    runner = models.CharField(max_length=100)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, default="")  # ok | failed | idle | stopped
    steps = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M:%S} {self.trigger} {self.outcome}"
