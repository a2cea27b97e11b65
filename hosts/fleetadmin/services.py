"""Writes of the fleet admin routes: a host's roaming flag, status, auth state, deletion.

Keyword-only, one transaction each, the audit event (with the admin actor) inside it.
"""

from __future__ import annotations

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


def _host_field_set(
    *, host_id: int, field: str, value: object, action: str, key: str, actor: str, ip: str | None
) -> Host:
    """Set one operator-owned field of a host, audited (`key`: the value, and the previous one)."""
    with transaction.atomic():
        host = _locked_host(host_id)
        previous = getattr(host, field)
        setattr(host, field, value)
        host.save(update_fields=[field, "updated_at"])
        audit_record(
            action=action,
            actor=actor,
            ip=ip,
            meta={"host_id": host.pk, "fqdn": host.fqdn, key: value, "previous": previous},
        )
    return host


def host_roaming_set(*, host_id: int, allow: bool, actor: str, ip: str | None = None) -> Host:
    """Allow (or stop) the host's key from new IPs; it rebinds to each new IP while allowed."""
    return _host_field_set(
        host_id=host_id,
        field="allow_roaming_ips",
        value=allow,
        action="host.roaming",
        key="allow",
        actor=actor,
        ip=ip,
    )


def host_status_set(*, host_id: int, status: str, actor: str, ip: str | None = None) -> Host:
    """`active` or `disabled`; a disabled host's key answers 403 `Host is disabled`."""
    if status not in HostStatus.values:
        raise ApplicationError(
            "Validation failed.",
            status_code=422,
            fields={"status": f"Must be one of {', '.join(HostStatus.values)}."},
        )
    return _host_field_set(
        host_id=host_id,
        field="status",
        value=status,
        action="host.status",
        key="status",
        actor=actor,
        ip=ip,
    )


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
