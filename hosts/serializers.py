"""Wire shapes of the hosts app (fleet dialect, snake_case)."""

from __future__ import annotations

from typing import Any

from core.time import iso
from hosts.fleetauth.refresh.selectors import LoginFreshness
from hosts.fleetauth.selectors import TokenUsage
from hosts.models import Host, HostAuthDigest


def host_data(host: Host, *, admin: bool = False) -> dict[str, Any]:
    """A host as the fleet dialect shows it: the `host` of every `/auth` answer, and with
    `admin` the admin routes' row (key hint, versions as stored, `updated_at`)."""
    data: dict[str, Any] = {
        "id": host.pk,
        "fqdn": host.fqdn,
        "owner": host.owner,
        "status": host.status,
        "allow_roaming_ips": host.allow_roaming_ips,
        "bound_ip": host.bound_ip,
    }
    if admin:
        data["api_key_hint"] = host.api_key_hint
        data["client_version"] = host.client_version
        data["wrapper_version"] = host.wrapper_version
    else:
        data["client_version"] = host.client_version or None
        data["wrapper_version"] = host.wrapper_version or None
    data["api_calls"] = host.api_calls
    data["last_seen_at"] = iso(host.last_seen_at)
    data["created_at"] = iso(host.created_at)
    if admin:
        data["updated_at"] = iso(host.updated_at)
    return data


def token_usage_data(usage: TokenUsage) -> dict[str, int]:
    return {
        "total": usage.total,
        "input": usage.input,
        "output": usage.output,
        "cached": usage.cache_read,
        "reasoning": usage.reasoning,
        "events": usage.events,
    }


def digest_data(row: HostAuthDigest) -> dict[str, Any]:
    return {"digest": row.digest, "last_refresh": row.last_refresh, "seen_at": iso(row.seen_at)}


def login_freshness_data(login: LoginFreshness | None) -> dict[str, Any] | None:
    """The `login` block of /admin/overview and /admin/runner (None without a canonical login)."""
    if login is None:
        return None
    return {
        "digest": login.digest,
        "last_refresh": login.last_refresh,
        "refreshed_by": login.refreshed_by,
        "refreshed_by_host": login.refreshed_by_host,
        "access_expires_at": iso(login.access_expires_at),
        "access_expires_in_seconds": login.access_expires_in_seconds,
        "refresh_state": login.refresh_state,
        "refresh_due_at": iso(login.refresh_due_at),
        "refresh_attempts": login.refresh_attempts,
        "refresh_retry_at": iso(login.refresh_retry_at),
        "refresh_error": login.refresh_error,
        "refresh_failed_at": iso(login.refresh_failed_at),
        "action": login.action,
    }
