"""The latest Codex CLI release (GitHub), cached 3 hours, stale on failure with a 5-minute back-off.

Only one caller fetches at a time: a conditional UPDATE claims the row by pushing
`next_attempt_at` ahead before the request, so concurrent `/versions` and `/auth` calls on
several workers serve the cached value instead of all hitting GitHub.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from core.time import iso
from core.upstream import UpstreamError, get_json
from hosts.models import ClientVersionCache

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
    source: str
    last_error: str = ""

    def as_dict(self) -> dict:
        return {
            "client_version": self.version,
            "client_version_checked_at": iso(self.checked_at),
            "client_version_source": self.source,
        }


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


def _fresh(row: ClientVersionCache, now: datetime) -> bool:
    return bool(row.version) and row.checked_at is not None and now - row.checked_at < CACHE_TTL


def _cached(row: ClientVersionCache, now: datetime) -> ClientVersion:
    if not row.version:
        source = SOURCE_UNKNOWN
    elif _fresh(row, now):
        source = SOURCE_CACHE
    else:
        source = SOURCE_STALE
    return ClientVersion(row.version or None, row.checked_at, source, row.last_error)


def _claim(row: ClientVersionCache, now: datetime, *, force: bool) -> bool:
    """Take the right to fetch: push `next_attempt_at` ahead unless someone else already did."""
    claim = ClientVersionCache.objects.filter(pk=row.pk)
    if not force:
        claim = claim.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    return claim.update(next_attempt_at=now + RETRY_BACKOFF) == 1


def client_version_get(*, force: bool = False) -> ClientVersion:
    """The latest client version; fetches when the cache is older than 3 h (or when forced).

    A failed fetch keeps the last good version (`cache_stale`) and the next try waits 5 minutes.
    Never raises for upstream trouble.
    """
    now = timezone.now()
    row = _row()
    if not force and _fresh(row, now):
        return _cached(row, now)
    if not _claim(row, now, force=force):
        return _cached(row, now)  # backing off, or another worker is fetching right now
    try:
        version = fetch_latest_release()
    except UpstreamError as exc:
        error = f"{settings.CODEX_RELEASES_URL}: {exc}"[:500]
        logger.warning("codex release check failed: %s", error)
        ClientVersionCache.objects.filter(pk=row.pk).update(last_error=error)
        row.refresh_from_db()
        return _cached(row, now)
    ClientVersionCache.objects.filter(pk=row.pk).update(
        version=version, checked_at=now, next_attempt_at=None, last_error=""
    )
    return ClientVersion(version, now, SOURCE_GITHUB)


def wrapper_info() -> dict:
    """Version and template digest of the `cdx` wrapper this server ships."""
    from hosts.wrapper import bake

    try:
        template_sha = bake.unbaked_sha256()
    except (OSError, bake.BakeError):
        logger.exception("wrapper template unreadable")
        template_sha = None
    return {"wrapper_version": bake.WRAPPER_VERSION, "wrapper_template_sha256": template_sha}


def versions_public(*, force: bool = False) -> dict:
    """The `/versions` answer: no host, so the wrapper digest is the unbaked template's."""
    return {
        **client_version_get(force=force).as_dict(),
        **wrapper_info(),
        "wrapper_url": WRAPPER_URL,
    }


def client_update_source(version: str | None) -> dict:
    """Where a host updates Codex to `version` from: the npm package (npm installs) and the
    release asset URL template (`{target}` is the host's platform triple, e.g.
    `x86_64-unknown-linux-musl`). The URL is a setting, so tests and mirrors point elsewhere."""
    asset = None
    if version:
        asset = settings.CODEX_ASSET_URL.replace("{version}", version)
    return {"npm_package": settings.CODEX_NPM_PACKAGE, "asset_url": asset}


def versions_for_host(*, host) -> dict:
    """The `versions` block of an `/auth` answer: the wrapper digest of THIS host's baked bytes."""
    from hosts.wrapper import bake

    try:
        client = client_version_get().as_dict()
    except Exception:  # a version check must never make /auth fail
        logger.exception("client version lookup failed")
        client = ClientVersion(None, None, SOURCE_UNKNOWN).as_dict()
    wrapper_sha = None
    try:
        wrapper_sha = bake.wrapper_metadata(host=host)["sha256"]
    except (OSError, bake.BakeError):
        logger.exception("wrapper could not be baked for %s", host.fqdn)
    return {
        **client,
        "wrapper_version": bake.WRAPPER_VERSION,
        "wrapper_sha256": wrapper_sha,
        "wrapper_url": WRAPPER_URL,
        "reported_client_version": host.client_version or None,
        "reported_wrapper_version": host.wrapper_version or None,
        "client_update": client_update_source(client.get("client_version")),
    }
