"""`/admin/*` JSON in the fleet dialect: overview, hosts, the canonical upload, logs, usage,
token aggregates, the runner and slash commands. Admin access as `FleetAdminView` says; every
change is audited with the actor. Lists run newest first with `limit` (capped) and a `before`
cursor (the id of the last row seen); `next_before` is set while more rows may follow."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from rest_framework.request import Request

from accounts import selectors as audit_selectors
from accounts.serializers import audit_row
from accounts.services import audit_record
from core.client_ip import client_ip, from_trusted_proxy, mtls_header_present
from core.errors import ApplicationError
from core.params import page_params
from core.time import iso
from hosts import quota, selectors, versions
from hosts.api_base import FleetAdminView, admin_actor, ok
from hosts.delivery import selectors as delivery_selectors
from hosts.delivery import services as delivery_services
from hosts.fleetadmin import selectors as admin_selectors
from hosts.fleetadmin import services
from hosts.fleetauth import selectors as auth_selectors
from hosts.fleetauth import services as auth_services
from hosts.fleetauth.authjson import AuthJsonError, normalise_auth
from hosts.fleetauth.refresh.selectors import login_freshness
from hosts.models import CanonicalAuth, Host, RunnerCycle, RunnerStep
from hosts.runner import engine
from hosts.runner import services as runner_services
from hosts.serializers import (
    canonical_status_data,
    chatgpt_usage_data,
    digest_data,
    fleet_record_data,
    latest_usage_data,
    login_freshness_data,
    machine_model_tokens_data,
    month_cost_data,
    price_in_effect_data,
    token_figures_data,
    token_usage_data,
    versions_public_data,
)
from hosts.services import host_calls_pending
from usage import fleet_selectors as usage_selectors

VALIDATION = "Validation failed."
LIST_DEFAULT = 100
LIST_MAX = 500
TRUTHY = frozenset({"1", "true", "yes", "on"})


def _page(request: Request, *, default: int = LIST_DEFAULT, maximum: int = LIST_MAX):
    try:
        return page_params(request.query_params, default=default, maximum=maximum)
    except ApplicationError as exc:  # the same rule, in the fleet dialect's status
        raise ApplicationError(VALIDATION, status_code=422, fields=exc.fields) from None


def _limit(request: Request, *, default: int, maximum: int) -> int:
    return _page(request, default=default, maximum=maximum)[0]


def _next_before(rows: list, limit: int, id_of=lambda row: row["id"]) -> int | None:
    return id_of(rows[-1]) if len(rows) == limit and rows else None


def _body(request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ApplicationError(VALIDATION, status_code=422, fields={"body": "Must be an object."})
    return request.data


def _flag(request: Request, name: str) -> bool:
    return str(request.query_params.get(name, "")).strip().lower() in TRUTHY


def _host_or_404(host_id: int) -> Host:
    host = admin_selectors.host_get(host_id=host_id)
    if host is None:
        raise ApplicationError(services.MSG_HOST_NOT_FOUND, status_code=404)
    return host


def host_row(host: Host, *, canonical_digest: str | None, pending_calls: int = 0) -> dict:
    state = admin_selectors.host_auth_state(host)
    return {
        "id": host.pk,
        "fqdn": host.fqdn,
        "owner": host.owner,
        "status": host.status,
        "ip": host.bound_ip,
        "allow_roaming_ips": host.allow_roaming_ips,
        "api_key_hint": host.api_key_hint,
        "client_version": host.client_version or None,
        "wrapper_version": host.wrapper_version or None,
        "api_calls": host.api_calls + pending_calls,
        "last_seen_at": iso(host.last_seen_at),
        "created_at": iso(host.created_at),
        "updated_at": iso(host.updated_at),
        "canonical_digest": canonical_digest,
        "auth": None
        if state is None
        else {
            "digest": state.digest or None,
            "last_refresh": state.last_refresh or None,
            "last_status": state.last_status or None,
            "updated_at": iso(state.updated_at),
            "in_sync": bool(canonical_digest) and state.digest == canonical_digest,
        },
        "recent_digests": [digest_data(row) for row in host.recent_digests.all()[:3]],
        "latest_usage": latest_usage_data(getattr(host, "latest_usage", None)),
    }


def _canonical_digest() -> str | None:
    canonical = auth_selectors.canonical_current()
    return canonical.digest if canonical else None


class OverviewApi(FleetAdminView):
    """`GET /admin/overview`: fleet figures from stored values only (no upstream call)."""

    def get(self, request: Request):
        now = timezone.now()
        state = selectors.fleet_state()
        canonical = auth_selectors.canonical_current()
        digest = canonical.digest if canonical else None
        periods = usage_selectors.periods(now)
        last_cycle = RunnerCycle.objects.order_by("-started_at", "-id").first()
        return ok(
            {
                "generated_at": iso(now),
                "hosts": admin_selectors.host_counts(),
                "avg_refresh_age_seconds": admin_selectors.average_refresh_age_seconds(now),
                "latest_log_at": iso(audit_selectors.audit_latest_ts()),
                "api_disabled": state.api_disabled,
                "versions": versions_public_data(
                    versions.versions_public(state=state.client_version)
                ),
                "canonical_auth": canonical_status_data(
                    admin_selectors.canonical_status(canonical)
                ),
                "login": login_freshness_data(login_freshness(now=now)),
                "chatgpt_usage": chatgpt_usage_data(
                    quota.quota_for_request(state=state.quota, canonical_digest=digest)
                ),
                "token_totals": token_figures_data(periods.all_time),
                "tokens_month": token_figures_data(periods.month),
                "tokens_today": token_figures_data(periods.today),
                "pricing": [
                    price_in_effect_data(row) for row in usage_selectors.prices_in_effect(now)
                ],
                "pricing_month_cost": month_cost_data(
                    periods, usage_selectors.month_by_family(periods.month_start)
                ),
                "mtls": {
                    "header": settings.ADMIN_MTLS_HEADER,
                    "present": mtls_header_present(request),
                    "from_trusted_proxy": from_trusted_proxy(request),
                    "admin_key_required": bool(settings.DASHBOARD_ADMIN_KEY),
                    "access": "token" if getattr(request.user, "kind", None) else "mtls",
                },
                "runner": {
                    "last_cycle_at": iso(last_cycle.started_at) if last_cycle else None,
                    "last_outcome": last_cycle.outcome if last_cycle else None,
                },
            }
        )


class HostListApi(FleetAdminView):
    def get(self, request: Request):
        limit, before = _page(request)
        hosts = admin_selectors.host_page(before=before, limit=limit)
        digest = _canonical_digest()
        pending = host_calls_pending([host.pk for host in hosts])
        return ok(
            {
                "hosts": [
                    host_row(host, canonical_digest=digest, pending_calls=pending.get(host.pk, 0))
                    for host in hosts
                ],
                "next_before": _next_before(hosts, limit, id_of=lambda host: host.pk),
            }
        )


class HostDetailApi(FleetAdminView):
    def get(self, request: Request, host_id: int):
        host = _host_or_404(host_id)
        pending = host_calls_pending([host.pk]).get(host.pk, 0)
        data = host_row(host, canonical_digest=_canonical_digest(), pending_calls=pending)
        data["token_usage_month"] = token_usage_data(
            auth_selectors.host_token_usage_month(host=host)
        )
        return ok({"host": data})

    def delete(self, request: Request, host_id: int):
        deleted = services.host_delete(
            host_id=host_id, actor=admin_actor(request), ip=client_ip(request)
        )
        return ok({"deleted": deleted["fqdn"], "id": deleted["id"]})


class HostAuthApi(FleetAdminView):
    """`GET /admin/hosts/<id>/auth[?include_body=1]`: no secret unless the body is asked for
    (and then the read is audited)."""

    def get(self, request: Request, host_id: int):
        host = _host_or_404(host_id)
        canonical = auth_selectors.canonical_current()
        row = host_row(host, canonical_digest=canonical.digest if canonical else None)
        data = {
            "host_id": host.pk,
            "fqdn": host.fqdn,
            "canonical": canonical_status_data(admin_selectors.canonical_status(canonical)),
            "host_state": row["auth"],
            "recent_digests": row["recent_digests"],
        }
        if _flag(request, "include_body") and canonical is not None:
            data["auth"] = auth_selectors.canonical_auth_object(canonical)
            audit_record(
                action="auth.read",
                actor=admin_actor(request),
                ip=client_ip(request),
                meta={"host_id": host.pk, "digest": canonical.digest},
            )
        return ok(data)


class HostRoamingApi(FleetAdminView):
    def post(self, request: Request, host_id: int):
        allow = _body(request).get("allow")
        if not isinstance(allow, bool):
            raise ApplicationError(
                "allow must be boolean", status_code=422, fields={"allow": "Must be true or false."}
            )
        host = services.host_roaming_set(
            host_id=host_id, allow=allow, actor=admin_actor(request), ip=client_ip(request)
        )
        return ok({"host": {"id": host.pk, "fqdn": host.fqdn, "allow_roaming_ips": allow}})


class HostClearApi(FleetAdminView):
    def post(self, request: Request, host_id: int):
        host = services.host_auth_clear(
            host_id=host_id, actor=admin_actor(request), ip=client_ip(request)
        )
        return ok({"host": {"id": host.pk, "fqdn": host.fqdn}, "cleared": True})


class HostStatusApi(FleetAdminView):
    def post(self, request: Request, host_id: int):
        status = _body(request).get("status")
        if not isinstance(status, str):
            raise ApplicationError(
                VALIDATION, status_code=422, fields={"status": "Must be active or disabled."}
            )
        host = services.host_status_set(
            host_id=host_id, status=status, actor=admin_actor(request), ip=client_ip(request)
        )
        return ok({"host": {"id": host.pk, "fqdn": host.fqdn, "status": host.status}})


class AuthUploadApi(FleetAdminView):
    """`POST /admin/auth/upload`: `{"auth": <auth.json>, "host_id"?: n}` (or the auth.json
    itself). Validated exactly as a host's store; becomes the canonical login."""

    def post(self, request: Request):
        body = _body(request)
        raw = body.get("auth", body)
        source_host = None
        host_id = body.get("host_id") if "auth" in body else None
        if host_id is not None:
            if isinstance(host_id, bool) or not isinstance(host_id, int):
                raise ApplicationError(
                    VALIDATION, status_code=422, fields={"host_id": "Must be a host id."}
                )
            source_host = Host.objects.filter(pk=host_id).first()
            if source_host is None:
                raise ApplicationError(services.MSG_HOST_NOT_FOUND, status_code=404)
        try:
            auth, last_refresh = normalise_auth(raw)
        except AuthJsonError as exc:
            # The same rule, field and message a host's store gets.
            raise ApplicationError(
                VALIDATION, status_code=422, fields={exc.field: exc.message}
            ) from exc
        outcome = auth_services.auth_upload(
            auth=auth,
            last_refresh=last_refresh,
            source_host=source_host,
            actor=admin_actor(request),
            ip=client_ip(request),
        )
        canonical = outcome.canonical
        assert isinstance(canonical, CanonicalAuth)  # an upload always leaves a current row
        return ok(
            {
                "status": outcome.status,
                "canonical_digest": canonical.digest,
                "canonical_last_refresh": canonical.last_refresh,
                "canonical": canonical_status_data(admin_selectors.canonical_status(canonical)),
            }
        )


class LogsApi(FleetAdminView):
    def get(self, request: Request):
        limit, before = _page(request)
        events = audit_selectors.audit_page(before=before, limit=limit)
        return ok(
            {
                "entries": [audit_row(event) for event in events],
                "next_before": _next_before(events, limit, id_of=lambda event: event.pk),
            }
        )


class UsageApi(FleetAdminView):
    def get(self, request: Request):
        limit, before = _page(request)
        records = usage_selectors.records_page(before=before, limit=limit)
        return ok(
            {
                "usage": [fleet_record_data(record) for record in records],
                "next_before": _next_before(records, limit, id_of=lambda record: record.id),
            }
        )


class TokensApi(FleetAdminView):
    """Aggregates per machine (host FQDN) × model, largest first; `limit` only (a ranking has no
    stable id to page from)."""

    def get(self, request: Request):
        limit = _limit(request, default=LIST_DEFAULT, maximum=LIST_MAX)
        rows, groups = usage_selectors.tokens_per_machine_model(limit=limit)
        host_ids = admin_selectors.host_ids_by_fqdn({machine for (machine, _), _item in rows})
        tokens = [
            machine_model_tokens_data(machine, model, item, host_ids.get(machine))
            for (machine, model), item in rows
        ]
        return ok({"tokens": tokens, "groups": groups})


def step_row(step: RunnerStep) -> dict:
    return {
        "name": step.name,
        "next_due_at": iso(step.next_due_at),
        "requested_at": iso(step.requested_at),
        "claimed_by": step.claimed_by or None,
        "claimed_until": iso(step.claimed_until),
        "last_started_at": iso(step.last_started_at),
        "last_finished_at": iso(step.last_finished_at),
        "last_outcome": step.last_outcome or None,
        "last_detail": step.last_detail or None,
        "runs": step.runs,
    }


def cycle_row(cycle: RunnerCycle) -> dict:
    return {
        "id": cycle.pk,
        "trigger": cycle.trigger,
        "runner": cycle.runner,
        "started_at": iso(cycle.started_at),
        "finished_at": iso(cycle.finished_at),
        "outcome": cycle.outcome,
        "steps": cycle.steps,
    }


class RunnerApi(FleetAdminView):
    """`GET /admin/runner`: configuration, each step's schedule and last outcome, recent cycles."""

    def get(self, request: Request):
        rows = {step.name: step for step in admin_selectors.runner_steps()}
        steps = []
        for step in engine.steps():
            entry = {"name": step.name, "description": step.description, "enabled": step.enabled}
            if step.name in rows:
                entry.update(step_row(rows[step.name]))
            steps.append(entry)
        limit = _limit(request, default=20, maximum=200)
        return ok(
            {
                "config": {
                    "poll_seconds": settings.RUNNER_POLL_SECONDS,
                    "lease_seconds": int(engine.LEASE.total_seconds()),
                    "upstream_timeout_seconds": settings.UPSTREAM_TIMEOUT_SECONDS,
                    "audit_retention_days": settings.AUDIT_RETENTION_DAYS,
                },
                "canonical_auth": canonical_status_data(admin_selectors.canonical_status()),
                "login": login_freshness_data(login_freshness()),
                "steps": steps,
                "cycles": [
                    cycle_row(cycle) for cycle in admin_selectors.runner_cycles(limit=limit)
                ],
            }
        )


class RunnerRunApi(FleetAdminView):
    """`POST /admin/runner/run` `{"force"?: bool, "steps"?: [names]}`: one cycle, here and now
    (due steps; every step with `force`; the named ones with `steps`), answered with its record."""

    def post(self, request: Request):
        body = request.data if isinstance(request.data, dict) else {}
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise ApplicationError(
                VALIDATION, status_code=422, fields={"force": "Must be boolean."}
            )
        only = body.get("steps")
        known = {step.name for step in engine.steps()}
        if only is not None and (
            not isinstance(only, list) or not only or not all(name in known for name in only)
        ):
            raise ApplicationError(
                VALIDATION,
                status_code=422,
                fields={"steps": f"Must be a list of step names: {', '.join(sorted(known))}."},
            )
        cycle = runner_services.runner_run_now(
            force=force, only=only, actor=admin_actor(request), ip=client_ip(request)
        )
        return ok({"cycle": cycle_row(cycle)})


class SlashCommandListApi(FleetAdminView):
    def get(self, request: Request):
        commands = delivery_selectors.slash_command_list()
        return ok(
            {
                "commands": [
                    {
                        "filename": command.filename,
                        "sha256": command.sha256,
                        "description": command.description,
                        "argument_hint": command.argument_hint,
                        "source_host_id": command.source_host_id,
                        "created_at": iso(command.created_at),
                        "updated_at": iso(command.updated_at),
                    }
                    for command in commands
                ]
            }
        )


class SlashCommandDeleteApi(FleetAdminView):
    def delete(self, request: Request, filename: str):
        command = delivery_services.slash_command_retire(
            filename=filename, actor=admin_actor(request), ip=client_ip(request)
        )
        return ok({"deleted": command.filename, "deleted_at": iso(command.deleted_at)})
