"""Wire shapes of the hosts app (fleet dialect, snake_case)."""

from __future__ import annotations

from typing import Any

from core.time import iso
from hosts.fleetadmin.selectors import CanonicalStatus
from hosts.fleetauth.refresh.selectors import LoginFreshness
from hosts.fleetauth.selectors import TokenUsage
from hosts.models import Host, HostAuthDigest
from hosts.quota import QuotaStatus, QuotaWindow
from hosts.versions import ClientVersion, HostVersions, PublicVersions
from usage.aggregation import MICROS_PER_USD, Sums
from usage.fleet_selectors import FleetRecord, Periods
from usage.models import ModelPrice


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


def quota_window_data(window: QuotaWindow | None) -> dict[str, Any] | None:
    if window is None:
        return None
    return {
        "kind": window.kind,
        "used_percent": window.used_percent,
        "limit_seconds": window.limit_seconds,
        "reset_after_seconds": window.reset_after_seconds,
        "reset_at": window.reset_at,
        "reset_at_iso": iso(window.reset_time),
    }


def chatgpt_usage_data(quota: QuotaStatus) -> dict[str, Any]:
    """The `chatgpt_usage` object of `/auth`, `/admin/overview` and `/admin/chatgpt/usage`."""
    if quota.summary_failed:
        return {"status": quota.status, "available": False, "last_error": quota.last_error}
    return {
        "status": quota.status,
        "available": quota.available,
        "plan_type": quota.plan_type,
        "allowed": quota.allowed,
        "limit_reached": quota.limit_reached,
        "credits": quota.credits,
        "primary_window": quota_window_data(quota.primary_window),
        "secondary_window": quota_window_data(quota.secondary_window),
        "fetched_at": iso(quota.fetched_at),
        "stale": quota.stale,
        "last_attempt_at": iso(quota.last_attempt_at),
        "last_error": quota.last_error,
        "cooldown_seconds": quota.cooldown_seconds,
        "next_eligible_at": iso(quota.next_eligible_at),
    }


def client_version_data(client: ClientVersion) -> dict[str, Any]:
    return {
        "client_version": client.version,
        "client_version_checked_at": iso(client.checked_at),
        "client_version_source": client.source,
    }


def versions_public_data(versions: PublicVersions) -> dict[str, Any]:
    """The `/versions` answer (and `/admin/overview`'s `versions`)."""
    return {
        **client_version_data(versions.client),
        "wrapper_version": versions.wrapper_version,
        "wrapper_template_sha256": versions.wrapper_template_sha256,
        "wrapper_url": versions.wrapper_url,
    }


def versions_host_data(versions: HostVersions) -> dict[str, Any]:
    """The `versions` object of every `/auth` answer."""
    return {
        **client_version_data(versions.client),
        "wrapper_version": versions.wrapper_version,
        "wrapper_sha256": versions.wrapper_sha256,
        "wrapper_url": versions.wrapper_url,
        "reported_client_version": versions.reported_client_version,
        "reported_wrapper_version": versions.reported_wrapper_version,
        "client_update": {
            "npm_package": versions.client_update.npm_package,
            "asset_url": versions.client_update.asset_url,
        },
    }


# A host row's `latest_usage` shows these of its latest record.
_LATEST_USAGE_KEYS = ("ts", "model", "total", "input", "cached", "output", "reasoning", "cost_usd")


def token_figures_data(item: Sums) -> dict[str, Any]:
    """Every token kind of a sum, as the fleet dialect names them (`cached` = cache reads)."""
    return {
        "total": item.tokens_raw,
        "input": item.input,
        "cached": item.cache_read,
        "cache_creation": item.cache_creation,
        "output": item.output,
        "reasoning": item.reasoning,
        "messages": item.messages,
        "cost_usd": item.cost_usd,
    }


def month_cost_data(periods: Periods, by_family: list[tuple[str, Sums]]) -> dict[str, Any]:
    """`/admin/overview`'s `pricing_month_cost`: month-to-date and today's cost, and the month's
    cost per model family (costliest first)."""
    return {
        "month_start": iso(periods.month_start),
        "month_to_date_usd": periods.month.cost_usd,
        "today_usd": periods.today.cost_usd,
        "by_family": {family: item.cost_usd for family, item in by_family},
    }


def machine_model_tokens_data(
    machine: str, model: str, item: Sums, host_id: int | None
) -> dict[str, Any]:
    """A row of `/admin/tokens`: one machine × model's all-time figures, and its host's id."""
    return {"machine": machine, "model": model, **token_figures_data(item), "host_id": host_id}


def fleet_record_data(record: FleetRecord) -> dict[str, Any]:
    """A row of `/admin/usage`: the record, its host, its figures as the fleet dialect names
    them (`cached` = cache reads, `total` = every kind once)."""
    return {
        "id": record.id,
        "ts": iso(record.ts),
        "host": {"id": record.host_id, "fqdn": record.host_fqdn} if record.host_id else None,
        "source": record.source,
        "user": record.user,
        "machine": record.machine,
        "model": record.model,
        "model_family": record.model_family,
        "total": record.total,
        "input": record.input,
        "cached": record.cache_read,
        "cache_creation": record.cache_creation,
        "output": record.output,
        "reasoning": record.reasoning,
        "cost_usd": record.cost_micros / MICROS_PER_USD,
        "line": record.line,
    }


def latest_usage_data(record: FleetRecord | None) -> dict[str, Any] | None:
    """A host row's `latest_usage`: when, which model, and the figures of its latest record."""
    if record is None:
        return None
    row = fleet_record_data(record)
    return {key: row[key] for key in _LATEST_USAGE_KEYS}


def canonical_status_data(status: CanonicalStatus | None) -> dict[str, Any] | None:
    """The canonical login's status as the fleet admin routes answer it."""
    if status is None:
        return None
    return {
        "digest": status.digest,
        "last_refresh": status.last_refresh,
        "source": status.source,
        "source_host_id": status.source_host_id,
        "created_at": iso(status.created_at),
        "valid": status.valid,
        "checked_at": iso(status.checked_at),
        "invalid_at": iso(status.invalid_at),
        "check_error": status.check_error,
    }


def price_in_effect_data(row: ModelPrice) -> dict[str, Any]:
    """A price row in effect (USD per million tokens) as /admin/overview lists it."""
    return {
        "model": row.model_prefix,
        "family": row.family,
        "provider": row.provider,
        "effective_from": iso(row.effective_from),
        "source": row.source,
        "input": float(row.input),
        "cache_write_5m": float(row.cache_write_5m),
        "cache_write_1h": float(row.cache_write_1h),
        "cache_read": float(row.cache_read),
        "output": float(row.output),
    }
