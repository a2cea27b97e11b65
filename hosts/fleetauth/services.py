"""Writes for canonical auth sync, host deregistration and the kill switch.

Keyword-only, one transaction each, the audit event inside it. Tokens never reach the audit log:
only digests and `last_refresh` values do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.services import audit_record
from core.crypto import encrypt_text
from core.errors import ApplicationError
from core.hashing import sha256_hex
from core.principals import host_actor
from core.validation import text_problem
from hosts.fleetauth import selectors
from hosts.fleetauth.authjson import Rfc3339, auth_text, auth_tokens, jwt_expiry, store_refusal
from hosts.models import CanonicalAuth, FleetSetting, Host, HostAuthDigest, HostAuthState
from hosts.selectors import API_DISABLED, CanonicalMeta, fleet_state_changed

RECENT_DIGESTS = 3
CANONICAL_LOCK = "canonical_auth.lock"
REFRESHER_SOURCE = "runner"  # CanonicalAuth.source of a login the server refreshed
VERSION_MAX = 64

# Retrieve statuses
MISSING = "missing"
VALID = "valid"
UPLOAD_REQUIRED = "upload_required"
OUTDATED = "outdated"
# Store statuses
UPDATED = "updated"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class AuthOutcome:
    status: str
    canonical: CanonicalAuth | CanonicalMeta | None
    # The canonical auth object to send back: `outdated` (the host must take it) and an accepted
    # `store` (`updated`: what the server stored, `auths` synthesized last, for the host to keep).
    auth: dict[str, Any] | None = None


def _clean_version(value: object) -> str | None:
    """A reported version to record, or None. Versions are reports riding along an auth
    exchange: one that cannot be stored (NUL, a lone surrogate) is dropped, never the exchange."""
    if not isinstance(value, str) or text_problem(value):
        return None
    return value.strip()[:VERSION_MAX]


def _host_versions_changes(
    *, host: Host, client_version: object, wrapper_version: object
) -> dict[str, str]:
    changes = {}
    for field, value in (("client_version", client_version), ("wrapper_version", wrapper_version)):
        cleaned = _clean_version(value)
        if cleaned is not None and cleaned != getattr(host, field):
            changes[field] = cleaned
    return changes


def _host_versions_record(*, host: Host, client_version: object, wrapper_version: object) -> None:
    changes = _host_versions_changes(
        host=host, client_version=client_version, wrapper_version=wrapper_version
    )
    if changes:
        Host.objects.filter(pk=host.pk).update(**changes, updated_at=timezone.now())
        for field, value in changes.items():
            setattr(host, field, value)


STATE_RESOLUTION = timedelta(minutes=1)


def _host_state_current(host: Host) -> HostAuthState | None:
    try:
        return host.auth_state
    except HostAuthState.DoesNotExist:
        return None


def _host_state_unchanged(
    *, host: Host, last_refresh: str, last_refresh_ns: int, digest: str, status: str
) -> bool:
    """The host holds what it held at its last exchange, recorded less than a minute ago.

    Then there is nothing to write: a steady-state retrieve stays read-only, like a token's
    `last_used_at`, whose times are also kept to the minute.
    """
    state = _host_state_current(host)
    return (
        state is not None
        and state.digest == digest
        and state.last_refresh == last_refresh
        and state.last_refresh_ns == last_refresh_ns
        and state.last_status == status
        and timezone.now() - state.updated_at < STATE_RESOLUTION
    )


def _host_state_record(
    *, host: Host, last_refresh: str, last_refresh_ns: int, digest: str, status: str
) -> None:
    """What the host holds after this exchange, and its last three distinct digests."""
    now = timezone.now()
    HostAuthState.objects.update_or_create(
        host=host,
        defaults={
            "last_refresh": last_refresh,
            "last_refresh_ns": last_refresh_ns,
            "digest": digest,
            "last_status": status,
            "updated_at": now,
        },
    )
    latest = HostAuthDigest.objects.filter(host=host).first()
    if latest is not None and latest.digest == digest:
        HostAuthDigest.objects.filter(pk=latest.pk).update(seen_at=now)
    else:
        HostAuthDigest.objects.create(
            host=host, digest=digest, last_refresh=last_refresh, seen_at=now
        )
    keep = list(
        HostAuthDigest.objects.filter(host=host).values_list("pk", flat=True)[:RECENT_DIGESTS]
    )
    HostAuthDigest.objects.filter(host=host).exclude(pk__in=keep).delete()


def canonical_lock() -> None:
    """Serialise writers of the canonical auth until the transaction ends.

    The first statement is an UPDATE of one lock row: PostgreSQL holds its row lock to commit
    and SQLite takes its write lock at once (waiting on the busy timeout instead of failing a
    later upgrade), so two stores can never both decide they are newer than the same current.
    """
    now = timezone.now()
    if FleetSetting.objects.filter(key=CANONICAL_LOCK).update(updated_at=now):
        return
    FleetSetting.objects.bulk_create(
        [FleetSetting(key=CANONICAL_LOCK, value=None, updated_at=now)], ignore_conflicts=True
    )
    FleetSetting.objects.filter(key=CANONICAL_LOCK).update(updated_at=now)


def canonical_auth_install(
    *, auth: dict[str, Any], last_refresh: Rfc3339, source: str, source_host: Host | None
) -> CanonicalAuth:
    """Make `auth` the current canonical login. Call inside a transaction holding the lock."""
    from hosts.runner.engine import step_request_now

    text = auth_text(auth)
    CanonicalAuth.objects.filter(is_current=True).update(is_current=False)
    # The quota cooldown belongs to a login: a new one is checked and fetched at once.
    step_request_now("quota")
    if source != REFRESHER_SOURCE:
        # The refresh schedule belongs to a login too (an upload may be close to expiry).
        step_request_now("auth_refresh")
    fleet_state_changed()
    access_token, _account = auth_tokens(auth)
    expires = jwt_expiry(access_token)
    return CanonicalAuth.objects.create(
        ciphertext=encrypt_text(text),
        digest=sha256_hex(text),
        last_refresh=last_refresh.text,
        last_refresh_ns=last_refresh.ns,
        source_host=source_host,
        source=source,
        is_current=True,
        access_expires_at=None if expires is None else datetime.fromtimestamp(expires, tz=UTC),
    )


_CURRENT = object()


def auth_retrieve(
    *,
    host: Host,
    last_refresh: Rfc3339,
    digest: str,
    client_version: object = None,
    wrapper_version: object = None,
    canonical: CanonicalAuth | CanonicalMeta | None | object = _CURRENT,
) -> AuthOutcome:
    """Compare what the host holds with the canonical login (`canonical`: what the caller
    already read, e.g. the cached fleet state; by default the current row).

    no canonical → missing; same digest → valid; host newer → upload_required;
    otherwise → outdated, with the canonical auth for the host to install.
    """
    current: CanonicalAuth | CanonicalMeta | None
    if isinstance(canonical, CanonicalAuth | CanonicalMeta) or canonical is None:
        current = canonical
    else:
        current = selectors.canonical_current()
    held: tuple[str, int, str] = (last_refresh.text, last_refresh.ns, digest)
    auth = None
    if current is None:
        status = MISSING
    elif digest == current.digest:
        status = VALID
    elif last_refresh.ns > current.last_refresh_ns:
        status = UPLOAD_REQUIRED
    else:
        status = OUTDATED
        row = current if isinstance(current, CanonicalAuth) else None
        if row is None:
            # A cached identity: the body is read only when the host must take it.
            row = CanonicalAuth.objects.filter(pk=current.pk).first()
            row = row or selectors.canonical_current()
        if row is not None:
            current = row
            auth = selectors.canonical_auth_object(row)
            held = (row.last_refresh, row.last_refresh_ns, row.digest)
    versions_changed = _host_versions_changes(
        host=host, client_version=client_version, wrapper_version=wrapper_version
    )
    unchanged = _host_state_unchanged(
        host=host, status=status, last_refresh=held[0], last_refresh_ns=held[1], digest=held[2]
    )
    if versions_changed or not unchanged:
        with transaction.atomic():
            _host_state_record(
                host=host,
                status=status,
                last_refresh=held[0],
                last_refresh_ns=held[1],
                digest=held[2],
            )
            _host_versions_record(
                host=host, client_version=client_version, wrapper_version=wrapper_version
            )
    return AuthOutcome(status=status, canonical=current, auth=auth)


def auth_store(
    *,
    host: Host,
    auth: dict[str, Any],
    last_refresh: Rfc3339,
    ip: str | None = None,
    client_version: object = None,
    wrapper_version: object = None,
    source: str = "host",
    allow_login_change: bool = False,
) -> AuthOutcome:
    """Offer a host's `auth.json` (already normalised by `normalise_auth`) as the canonical login.

    no canonical or newer → updated (it becomes current), with the canonical auth as stored;
    older → outdated, with the canonical auth; same `last_refresh` → unchanged (a different
    digest at the same moment is recorded as an `auth.conflict`). The login only moves forward
    as the same login: another ChatGPT account or another OPENAI_API_KEY is refused with 409 and
    audited, unless `allow_login_change` (an admin upload, which is how the fleet switches
    accounts).
    """
    digest = sha256_hex(auth_text(auth))
    with transaction.atomic():
        canonical_lock()
        canonical = selectors.canonical_current()
        previous_digest = canonical.digest if canonical else None
        refusal = None
        if canonical is not None and not allow_login_change:
            current = selectors.canonical_auth_object(canonical)
            refusal = store_refusal(current=current, offered=auth)
        if refusal is not None:
            # Committed with nothing else: the refusal is raised once the audit row is stored.
            audit_record(
                action="auth.store_refused",
                actor=host_actor(host.fqdn),
                ip=ip,
                meta={
                    "host_id": host.pk,
                    "fqdn": host.fqdn,
                    "reason": refusal.reason,
                    "digest": digest,
                    "last_refresh": last_refresh.text,
                    "canonical_digest": previous_digest,
                },
            )
        else:
            outcome = _auth_store_apply(
                host=host,
                auth=auth,
                digest=digest,
                last_refresh=last_refresh,
                canonical=canonical,
                ip=ip,
                source=source,
                client_version=client_version,
                wrapper_version=wrapper_version,
            )
    if refusal is not None:
        raise ApplicationError(
            refusal.message, status_code=409, fields={refusal.field: refusal.message}
        )
    return outcome


def _auth_store_apply(
    *,
    host: Host,
    auth: dict[str, Any],
    digest: str,
    last_refresh: Rfc3339,
    canonical: CanonicalAuth | None,
    ip: str | None,
    source: str,
    client_version: object,
    wrapper_version: object,
) -> AuthOutcome:
    previous_digest = canonical.digest if canonical else None
    returned = None
    if canonical is None or last_refresh.ns > canonical.last_refresh_ns:
        status = UPDATED
        canonical = canonical_auth_install(
            auth=auth, last_refresh=last_refresh, source=source, source_host=host
        )
        returned = auth
        held = (last_refresh.text, last_refresh.ns, digest)
    elif last_refresh.ns < canonical.last_refresh_ns:
        status = OUTDATED
        returned = selectors.canonical_auth_object(canonical)
        held = (canonical.last_refresh, canonical.last_refresh_ns, canonical.digest)
    else:
        status = UNCHANGED
        held = (last_refresh.text, last_refresh.ns, digest)
    _host_state_record(
        host=host, last_refresh=held[0], last_refresh_ns=held[1], digest=held[2], status=status
    )
    _host_versions_record(host=host, client_version=client_version, wrapper_version=wrapper_version)
    # Digests and timestamps only: the audit log never holds a token.
    meta = {
        "host_id": host.pk,
        "fqdn": host.fqdn,
        "status": status,
        "digest": digest,
        "last_refresh": last_refresh.text,
        "previous_digest": previous_digest,
        "canonical_digest": canonical.digest,
    }
    if status != UNCHANGED:
        audit_record(action="auth.store", actor=host_actor(host.fqdn), ip=ip, meta=meta)
    elif digest != canonical.digest:
        # Two different logins claim the same moment: the first one stays, and an admin sees it.
        audit_record(action="auth.conflict", actor=host_actor(host.fqdn), ip=ip, meta=meta)
    return AuthOutcome(status=status, canonical=canonical, auth=returned)


def host_deregister(*, host: Host, ip: str | None = None, forced: bool = False) -> str:
    """Delete the calling host (its state and digests go with it); returns its FQDN."""
    fqdn = host.fqdn
    with transaction.atomic():
        audit_record(
            action="host.delete",
            actor=host_actor(host.fqdn),
            ip=ip,
            meta={
                "host_id": host.pk,
                "fqdn": fqdn,
                "via": "DELETE /auth",
                "force": forced,
                "bound_ip": host.bound_ip,
            },
        )
        Host.objects.filter(pk=host.pk).delete()
    return fqdn


def api_state_set(*, disabled: bool, actor: str = "", ip: str | None = None) -> bool:
    """Switch the host-facing API off (503 everywhere) or back on."""
    with transaction.atomic():
        row, _created = FleetSetting.objects.select_for_update().get_or_create(
            key=API_DISABLED, defaults={"value": False}
        )
        previous = bool(row.value)
        row.value = bool(disabled)
        row.updated_at = timezone.now()
        row.save(update_fields=["value", "updated_at"])
        fleet_state_changed()
        audit_record(
            action="api.state",
            actor=actor,
            ip=ip,
            meta={"api_disabled": bool(disabled), "previous": previous},
        )
    return bool(disabled)


def auth_upload(
    *,
    auth: dict[str, Any],
    last_refresh: Rfc3339,
    source_host: Host | None = None,
    actor: str = "",
    ip: str | None = None,
) -> AuthOutcome:
    """An operator's `auth.json` (normalised and validated exactly as a host's store) becomes
    the canonical login, whatever its `last_refresh` against the current one: the operator
    decides. The same login again answers `unchanged`. The way to seed a fresh server."""
    digest = sha256_hex(auth_text(auth))
    with transaction.atomic():
        canonical_lock()
        current = selectors.canonical_current()
        previous_digest = current.digest if current else None
        if current is not None and current.digest == digest:
            return AuthOutcome(status=UNCHANGED, canonical=current)
        canonical = canonical_auth_install(
            auth=auth, last_refresh=last_refresh, source="admin", source_host=source_host
        )
        audit_record(
            action="auth.upload",
            actor=actor,
            ip=ip,
            meta={
                "digest": digest,
                "last_refresh": last_refresh.text,
                "previous_digest": previous_digest,
                "source_host_id": source_host.pk if source_host else None,
            },
        )
    return AuthOutcome(status=UPDATED, canonical=canonical)
