"""The latest Codex CLI release (GitHub), cached 3 hours, stale on failure with a 5-minute back-off.

Only the runner's `client_version` step asks GitHub (its claim keeps it to one runner at a time).
It publishes the result as a `FleetSetting` that `/versions` and `/auth` read without waiting;
a request that finds the value due asks the runner for a check and answers the stored value.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from core.time import iso, parse_iso
from core.upstream import UpstreamError, get_json
from hosts import selectors
from hosts.models import ClientVersionCache
from hosts.services import fleet_setting_put

logger = logging.getLogger("tokenfleet.versions")

CACHE_KEY = "codex"
CACHE_TTL = timedelta(hours=3)
RETRY_BACKOFF = timedelta(minutes=5)

SOURCE_GITHUB = "github"
SOURCE_CACHE = "cache"
SOURCE_STALE = "cache_stale"
SOURCE_UNKNOWN = "unknown"

_VERSION_RE = re.compile(r"^[0-9][0-9A-Za-z.+-]{0,62}$")
WRAPPER_URL = "/wrapper/download"


@dataclass(frozen=True)
class ClientVersion:
    version: str | None
    checked_at: datetime | None
    source: str  # github | cache | cache_stale | unknown
    last_error: str = ""


@dataclass(frozen=True)
class ClientUpdate:
    """Where a host updates Codex from (see `client_update_source`)."""

    npm_package: str
    asset_url: str | None


@dataclass(frozen=True)
class PublicVersions:
    """`/versions`: no host, so the wrapper digest is the unbaked template's."""

    client: ClientVersion
    wrapper_version: str
    wrapper_template_sha256: str | None
    wrapper_url: str = WRAPPER_URL


@dataclass(frozen=True)
class HostVersions:
    """The `versions` of an `/auth` answer: the digest of THIS host's baked wrapper."""

    client: ClientVersion
    wrapper_version: str
    wrapper_sha256: str | None
    reported_client_version: str | None
    reported_wrapper_version: str | None
    client_update: ClientUpdate
    wrapper_url: str = WRAPPER_URL


def version_from_tag(tag: object) -> str:
    """`rust-v0.63.0` / `v0.63.0` / `0.63.0` → `0.63.0`; anything else is an upstream error."""
    if not isinstance(tag, str):
        raise UpstreamError("release has no tag_name", kind="ValueError")
    value = tag.strip()
    for prefix in ("rust-v", "v"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
            break
    if not _VERSION_RE.match(value):
        raise UpstreamError(f"unexpected tag_name {tag[:80]!r}", kind="ValueError")
    return value


def fetch_latest_release() -> str:
    body = get_json(
        settings.CODEX_RELEASES_URL,
        label="GitHub",
        headers={"Accept": "application/vnd.github+json"},
    )
    return version_from_tag(body.get("tag_name"))


def _row() -> ClientVersionCache:
    row, _created = ClientVersionCache.objects.get_or_create(key=CACHE_KEY)
    return row


def _publish(row: ClientVersionCache, attempt_at: datetime | None) -> dict:
    state = {
        "version": row.version or None,
        "checked_at": iso(row.checked_at),
        "last_error": row.last_error or None,
        "attempt_at": iso(attempt_at),
    }
    fleet_setting_put(key=selectors.CLIENT_VERSION_STATE, value=state)
    return state


def client_version_refresh(*, now: datetime | None = None) -> tuple[bool, datetime]:
    """Ask GitHub now (the runner's `client_version` step). Returns (succeeded, next due time):
    3 h after a success; 5 minutes after a failure, which keeps the last good version."""
    now = now or timezone.now()
    row = _row()
    try:
        version = fetch_latest_release()
    except UpstreamError as exc:
        error = f"{settings.CODEX_RELEASES_URL}: {exc}"[:500]
        logger.warning("codex release check failed: %s", error)
        ClientVersionCache.objects.filter(pk=row.pk).update(
            last_error=error, next_attempt_at=now + RETRY_BACKOFF
        )
        row.refresh_from_db()
        _publish(row, now)
        return False, now + RETRY_BACKOFF
    ClientVersionCache.objects.filter(pk=row.pk).update(
        version=version, checked_at=now, next_attempt_at=None, last_error=""
    )
    row.refresh_from_db()
    _publish(row, now)
    return True, now + CACHE_TTL


def client_version_stored(state: dict | None, *, now: datetime | None = None) -> ClientVersion:
    """What the runner published: `cache` within 3 h, `cache_stale` after, `unknown` never."""
    now = now or timezone.now()
    state = state or {}
    version = state.get("version") or None
    checked_at = parse_iso(state.get("checked_at") or "")
    if not version:
        source = SOURCE_UNKNOWN
    elif checked_at is not None and now - checked_at < CACHE_TTL:
        source = SOURCE_CACHE
    else:
        source = SOURCE_STALE
    return ClientVersion(version, checked_at, source, state.get("last_error") or "")


def client_version_due(state: dict | None, *, now: datetime) -> bool:
    """Older than 3 h (or never fetched), and the last attempt is older than the back-off."""
    state = state or {}
    checked_at = parse_iso(state.get("checked_at") or "")
    attempt_at = parse_iso(state.get("attempt_at") or "")
    if checked_at is not None and now - checked_at < CACHE_TTL:
        return False
    return attempt_at is None or now - attempt_at >= RETRY_BACKOFF


def client_version_for_request(state: dict | None) -> ClientVersion:
    """The stored version; when a check is due, ask the runner for one. Never waits."""
    from hosts.runner.engine import step_request

    now = timezone.now()
    try:
        if client_version_due(state, now=now):
            step_request("client_version", now=now)
    except Exception:
        logger.exception("could not ask the runner for a client version check")
    return client_version_stored(state, now=now)


def wrapper_template_sha256() -> str | None:
    """The digest of the `cdx` template this server ships (None when it cannot be read)."""
    from hosts.wrapper import bake

    try:
        return bake.unbaked_sha256()
    except (OSError, bake.BakeError):
        logger.exception("wrapper template unreadable")
        return None


def versions_public(*, state: dict | None) -> PublicVersions:
    """The `/versions` answer's data."""
    from hosts.wrapper import bake

    return PublicVersions(
        client=client_version_for_request(state),
        wrapper_version=bake.WRAPPER_VERSION,
        wrapper_template_sha256=wrapper_template_sha256(),
    )


def client_update_source(version: str | None) -> ClientUpdate:
    """Where a host updates Codex to `version` from: the npm package (npm installs) and the
    release asset URL template (`{target}` is the host's platform triple, e.g.
    `x86_64-unknown-linux-musl`). The URL is a setting, so tests and mirrors point elsewhere."""
    asset = None
    if version:
        asset = settings.CODEX_ASSET_URL.replace("{version}", version)
    return ClientUpdate(npm_package=settings.CODEX_NPM_PACKAGE, asset_url=asset)


def versions_for_host(*, host, state: dict | None) -> HostVersions:
    """The `versions` block of an `/auth` answer: the wrapper digest of THIS host's baked bytes."""
    from hosts.wrapper import bake

    try:
        client = client_version_for_request(state)
    except Exception:  # a version check must never make /auth fail
        logger.exception("client version lookup failed")
        client = ClientVersion(None, None, SOURCE_UNKNOWN)
    wrapper_sha = None
    try:
        wrapper_sha = bake.wrapper_metadata(host=host)["sha256"]
    except (OSError, bake.BakeError):
        logger.exception("wrapper could not be baked for %s", host.fqdn)
    return HostVersions(
        client=client,
        wrapper_version=bake.WRAPPER_VERSION,
        wrapper_sha256=wrapper_sha,
        reported_client_version=host.client_version or None,
        reported_wrapper_version=host.wrapper_version or None,
        client_update=client_update_source(client.version),
    )
