"""`/auth`, `/versions`, and the admin routes for the kill switch, quota and version checks.

Fleet dialect: `{"status":"ok","data":{...}}`; validation failures answer 422. Deployed `cdx`
clients parse these bodies, so status words and field names are contract.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from rest_framework.request import Request

from core.client_ip import client_ip
from core.errors import ApplicationError
from hosts import quota, selectors, versions
from hosts.api_base import (
    FleetAdminView,
    FleetHostView,
    FleetPublicView,
    admin_actor,
    ok,
    request_host,
)
from hosts.fleetauth import selectors as auth_selectors
from hosts.fleetauth import services
from hosts.fleetauth.authjson import AuthJsonError, normalise_auth, parse_digest, parse_rfc3339
from hosts.models import Host
from hosts.runner.engine import (
    MANUAL,
    OK,
    StepResult,
    cycle_run,
    manual_runner,
    step_claim,
    step_release,
    steps_ensure,
)
from hosts.selectors import FleetState
from hosts.serializers import (
    chatgpt_usage_data,
    host_data,
    token_usage_data,
    versions_host_data,
    versions_public_data,
)
from usage.host_month import host_month_key

TRUTHY = frozenset({"1", "true", "yes", "on"})
VALIDATION_MESSAGE = "Validation failed."


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(VALIDATION_MESSAGE, status_code=422, fields={field: message})


def _body(request: Request) -> dict[str, Any]:
    return _object(request.data)


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _invalid("body", "Must be a JSON object.")
    return data


def _flag(request: Request | HttpRequest, name: str) -> bool:
    # `GET` is DRF's `query_params` too.
    return str(request.GET.get(name, "")).strip().lower() in TRUTHY


def auth_answer(
    *, host: Host, outcome: services.AuthOutcome, state: FleetState, request: Any = None
) -> dict[str, Any]:
    """Every `/auth` answer carries the same fields, whatever the status.

    Upstream values come from what the runner stored (`state`): nothing here waits on an
    upstream; a due value only asks the runner for a refresh.
    """
    canonical = outcome.canonical
    data: dict[str, Any] = {"status": outcome.status}
    if outcome.auth is not None:
        data["auth"] = outcome.auth
    data.update(
        canonical_last_refresh=canonical.last_refresh if canonical else None,
        canonical_digest=canonical.digest if canonical else None,
        api_calls=host.api_calls,
        token_usage_month=token_usage_data(
            auth_selectors.host_token_usage_month(host=host, request=request)
        ),
        versions=versions_host_data(
            versions.versions_for_host(host=host, state=state.client_version)
        ),
        host=host_data(host),
        chatgpt_usage=chatgpt_usage_data(
            quota.quota_for_request(
                state=state.quota, canonical_digest=canonical.digest if canonical else None
            )
        ),
    )
    return data


# Routed through `plain_post_route` (hosts/fleetauth/urls.py): every `cdx` run posts here, and a
# JSON POST skips DRF's Request wrapper, under the same rules (hosts.api_base).
class AuthApi(FleetHostView):
    """`POST /auth` (retrieve | store) and `DELETE /auth` (deregister this host)."""

    def host_cache_reads(self, request: Request | HttpRequest, host: Host) -> list[str]:
        return [host_month_key(host.pk)] if request.method == "POST" else []

    def ip_override_allowed(self, request: Request | HttpRequest) -> bool:
        # Only deregistration may come from a new IP, and only when the host insists.
        return request.method == "DELETE" and _flag(request, "force")

    def post(self, request: Request) -> HttpResponseBase:
        return self.post_data(request, request.data)

    def post_data(self, request: Request | HttpRequest, data: Any) -> HttpResponseBase:
        host = request_host(request)
        body = _object(data)
        command = body.get("command")
        versions_reported = {
            "client_version": body.get("client_version"),
            "wrapper_version": body.get("wrapper_version"),
        }
        try:
            if command == "retrieve":
                last_refresh = parse_rfc3339(body.get("last_refresh"), field="last_refresh")
                digest = parse_digest(body.get("digest"), field="digest")
                outcome = services.auth_retrieve(
                    host=host,
                    last_refresh=last_refresh,
                    digest=digest,
                    canonical=selectors.request_fleet_state(request).canonical,
                    **versions_reported,
                )
            elif command == "store":
                if body.get("digest") not in (None, ""):
                    # Optional; the server's digest of what it stores is the one that counts.
                    parse_digest(body.get("digest"), field="digest")
                auth, last_refresh = normalise_auth(body.get("auth"))
                outcome = services.auth_store(
                    host=host,
                    auth=auth,
                    last_refresh=last_refresh,
                    ip=client_ip(request),
                    client_version=versions_reported["client_version"],
                    wrapper_version=versions_reported["wrapper_version"],
                )
            else:
                raise _invalid("command", 'Must be "retrieve" or "store".')
        except AuthJsonError as exc:
            raise _invalid(exc.field, exc.message) from exc
        # After a store the snapshot read in `initial` may be behind: read it again.
        state = (
            selectors.request_fleet_state(request)
            if command == "retrieve"
            else selectors.fleet_state()
        )
        return ok(auth_answer(host=host, outcome=outcome, state=state, request=request))

    def delete(self, request: Request) -> HttpResponseBase:
        host = request_host(request)
        fqdn = services.host_deregister(
            host=host, ip=client_ip(request), forced=self.ip_override_allowed(request)
        )
        return ok({"deleted": fqdn})


class VersionsApi(FleetPublicView):
    """`GET /versions`: public; the latest Codex release and the wrapper this server ships."""

    def get(self, request: Request) -> HttpResponseBase:
        state = selectors.request_fleet_state(request)
        return ok(versions_public_data(versions.versions_public(state=state.client_version)))


def _run_step_now(request: Request, name: str) -> None:
    """An admin's explicit refresh: run the runner's step here, under its claim."""
    cycle_run(trigger=MANUAL, only=[name], runner=manual_runner(admin_actor(request)))


class VersionsCheckApi(FleetAdminView):
    """`POST /admin/versions/check`: ask GitHub now, ignoring the cache and the back-off."""

    def post(self, request: Request) -> HttpResponseBase:
        _run_step_now(request, "client_version")
        data = versions_public_data(
            versions.versions_public(state=selectors.fleet_state().client_version)
        )
        if data["client_version_source"] == versions.SOURCE_CACHE:
            data["client_version_source"] = versions.SOURCE_GITHUB
        return ok(data)


class ApiStateApi(FleetAdminView):
    """`GET/POST /admin/api/state`: the persisted kill switch for every host-facing route."""

    def get(self, request: Request) -> HttpResponseBase:
        return ok({"api_disabled": selectors.api_disabled()})

    def post(self, request: Request) -> HttpResponseBase:
        value = _body(request).get("api_disabled")
        if not isinstance(value, bool):
            raise _invalid("api_disabled", "Must be true or false.")
        disabled = services.api_state_set(
            disabled=value, actor=admin_actor(request), ip=client_ip(request)
        )
        return ok({"api_disabled": disabled})


def _chatgpt_usage() -> dict[str, Any]:
    canonical = auth_selectors.canonical_current()
    return chatgpt_usage_data(
        quota.quota_for_request(
            state=selectors.fleet_state().quota,
            canonical_digest=canonical.digest if canonical else None,
        )
    )


class ChatGptUsageApi(FleetAdminView):
    """`GET /admin/chatgpt/usage[?force=1]`: the stored snapshot; `force=1` fetches now."""

    def get(self, request: Request) -> HttpResponseBase:
        if _flag(request, "force"):
            _force_quota(request)
        return ok({"chatgpt_usage": _chatgpt_usage()})


def _force_quota(request: Request) -> None:
    """Fetch now whatever the cooldown, under the quota step's claim (one fetch at a time)."""
    canonical = auth_selectors.canonical_current()
    if canonical is None:
        return
    runner = manual_runner(admin_actor(request))
    now = timezone.now()
    steps_ensure(now)
    if step_claim("quota", runner=runner, now=now, force=True):
        quota.quota_fetch_store(canonical=canonical, now=now)
        step_release(
            "quota",
            runner=runner,
            started_at=now,
            result=StepResult(OK, "forced by an admin", now + quota.COOLDOWN),
        )


class ChatGptUsageRefreshApi(FleetAdminView):
    """`POST /admin/chatgpt/usage/refresh`: fetch now, whatever the cooldown."""

    def post(self, request: Request) -> HttpResponseBase:
        _force_quota(request)
        return ok({"chatgpt_usage": _chatgpt_usage()})
