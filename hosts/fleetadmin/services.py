"""Writes of the fleet admin routes (and Django admin): a host's owner, roaming flag, status,
IP binding, auth state, deletion.

Keyword-only, one transaction each, the audit event (with the admin actor) inside it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.services import audit_record
from core.errors import ApplicationError
from hosts.models import Host, HostAuthDigest, HostAuthState, HostStatus

MSG_HOST_NOT_FOUND = "Host not found."


def _locked_host(host_id: int) -> Host:
    host = Host.objects.select_for_update().filter(pk=host_id).first()
    if host is None:
        raise ApplicationError(MSG_HOST_NOT_FOUND, status_code=404)
    return host


# An operator-owned field of a host → (the audit action of a change, the meta key of its value).
OPERATOR_FIELDS = {
    "owner": ("host.owner", "owner"),
    "status": ("host.status", "status"),
    "allow_roaming_ips": ("host.roaming", "allow"),
    "bound_ip": ("host.bind_ip", "bound_ip"),
}


def _operator_value(field: str, value: Any) -> Any:
    if field not in OPERATOR_FIELDS:
        raise ApplicationError(
            "Validation failed.", status_code=422, fields={field: "Not an operator-owned field."}
        )
    if field == "status" and value not in HostStatus.values:
        raise ApplicationError(
            "Validation failed.",
            status_code=422,
            fields={"status": f"Must be one of {', '.join(HostStatus.values)}."},
        )
    if field == "bound_ip":
        return value or None  # cleared: the host's next call binds afresh
    return value


def host_fields_set(
    *, host_id: int, changes: dict[str, Any], actor: str, ip: str | None = None
) -> Host:
    """Set operator-owned fields of a host (OPERATOR_FIELDS) in one transaction, each change
    audited with its value and the previous one. The admin routes set one; Django admin's host
    form the ones it changed."""
    cleaned = {field: _operator_value(field, value) for field, value in changes.items()}
    with transaction.atomic():
        host = _locked_host(host_id)
        for field, value in cleaned.items():
            action, key = OPERATOR_FIELDS[field]
            previous = getattr(host, field)
            setattr(host, field, value)
            audit_record(
                action=action,
                actor=actor,
                ip=ip,
                meta={"host_id": host.pk, "fqdn": host.fqdn, key: value, "previous": previous},
            )
        if cleaned:
            host.save(update_fields=[*cleaned, "updated_at"])
    return host


def host_roaming_set(*, host_id: int, allow: bool, actor: str, ip: str | None = None) -> Host:
    """Allow (or stop) the host's key from new IPs; it rebinds to each new IP while allowed."""
    return host_fields_set(
        host_id=host_id, changes={"allow_roaming_ips": allow}, actor=actor, ip=ip
    )


def host_status_set(*, host_id: int, status: str, actor: str, ip: str | None = None) -> Host:
    """`active` or `disabled`; a disabled host's key answers 403 `Host is disabled`."""
    return host_fields_set(host_id=host_id, changes={"status": status}, actor=actor, ip=ip)


def host_auth_clear(*, host_id: int, actor: str, ip: str | None = None) -> Host:
    """Forget what the host holds of the canonical login (state and recent digests): its next
    retrieve starts afresh. The canonical login itself is untouched."""
    with transaction.atomic():
        host = _locked_host(host_id)
        state = HostAuthState.objects.filter(host=host).first()
        digests, _ = HostAuthDigest.objects.filter(host=host).delete()
        states, _ = HostAuthState.objects.filter(host=host).delete()
        host.save(update_fields=["updated_at"])
        audit_record(
            action="host.clear",
            actor=actor,
            ip=ip,
            meta={
                "host_id": host.pk,
                "fqdn": host.fqdn,
                "previous_digest": state.digest if state else None,
                "previous_last_refresh": state.last_refresh if state else None,
                "digests_deleted": digests,
                "states_deleted": states,
                "at": timezone.now().isoformat(),
            },
        )
    return host


def host_delete(*, host_id: int, actor: str, ip: str | None = None) -> dict:
    """Delete the host with its state, digests and installer links; its usage rows stay (their
    host becomes empty, the machine name keeps them attributed)."""
    with transaction.atomic():
        host = _locked_host(host_id)
        deleted = {"id": host.pk, "fqdn": host.fqdn}
        audit_record(
            action="host.delete",
            actor=actor,
            ip=ip,
            meta={
                "host_id": host.pk,
                "fqdn": host.fqdn,
                "via": "DELETE /admin/hosts/<id>",
                "bound_ip": host.bound_ip,
            },
        )
        host.delete()
    return deleted
