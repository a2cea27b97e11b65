"""Base views for the fleet dialect: the envelope, host-key access, admin access, kill switch."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication
from accounts.permissions import FleetAdminAccess
from accounts.throttles import CredentialRateThrottle
from core import ratelimit
from core.cache import CacheRound, read_ahead, read_ahead_store
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.principals import HOST, Principal, principal_of
from hosts import selectors
from hosts.authentication import MSG_API_DISABLED, MSG_MISSING, HostKeyAuthentication
from hosts.models import Host
from hosts.services import host_call_record, host_calls_key


def ok(data: dict, status: int = 200, **headers) -> Response:
    response = Response({"status": "ok", "data": data}, status=status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def request_host(request: Request) -> Host:
    """The host whose key authenticated a host-facing request."""
    host: Host = principal_of(request).credential
    return host


class IsHost(BasePermission):
    message = MSG_MISSING

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = request.user
        return isinstance(principal, Principal) and principal.kind == HOST


class HostCallMixin:
    """For views a host key may call: once DRF has authenticated a host, apply the kill switch
    (503 while the API is disabled: a host key stops everywhere, /api/ingest/messages included),
    then the IP rule and the call count (hosts.services), before permissions and throttles."""

    # FleetHostView answers 503 to every caller before authenticating; others check hosts here.
    host_kill_switch = True

    # FleetHostView: the call count, the rate-limit count and what `host_cache_reads` names go
    # to the cache in one round trip.
    host_call_round = False

    def ip_override_allowed(self, request: Request) -> bool:
        return False

    def get_throttles_classes(self) -> list[type]:
        return list(self.throttle_classes)  # type: ignore[attr-defined]

    def host_cache_reads(self, request: Request, host: Host) -> list[str]:
        """Cache keys the view will read for this host (read in the call's round trip)."""
        return []

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)  # type: ignore[misc]
        principal = request.user
        if isinstance(principal, Principal) and principal.kind == HOST:
            if self.host_kill_switch and selectors.api_disabled():
                raise ApplicationError(MSG_API_DISABLED, status_code=503)
            host_call_record(
                host=principal.credential,
                ip=client_ip(request),
                override_allowed=self.ip_override_allowed(request),
                count_ahead=self._count_ahead(request) if self.host_call_round else None,
            )

    def _count_ahead(self, request: Request):
        """After the IP rule: one round trip that counts the call and the request's rate-limit
        window (CredentialRateThrottle then finds it counted) and reads the view's keys."""

        def run() -> int:
            host: Host = principal_of(request).credential
            cache_round = CacheRound()
            cache_round.counter_incr(host_calls_key(host.pk), timeout=None)
            rate_counted = None
            if CredentialRateThrottle in self.get_throttles_classes():
                rate_counted = CredentialRateThrottle.count_ahead(cache_round, request)
            reads = self.host_cache_reads(request, host)
            for key in reads:
                cache_round.get(key)
            pending, *rest = cache_round.run()
            if rate_counted is not None:
                rate_counted(rest.pop(0))
            read_ahead_store(request, dict(zip(reads, rest, strict=True)))
            return int(pending)

        return run


class FleetHostView(HostCallMixin, APIView):
    """A host-facing route: host key required, 503 while the API is disabled."""

    authentication_classes = [HostKeyAuthentication]
    permission_classes = [IsHost]
    host_kill_switch = False  # checked for everyone in initial()

    host_call_round = True

    def initial(self, request, *args, **kwargs):
        # The kill switch and the runner's published values, read once for the whole request,
        # in one round trip with the client IP's failed-authentication count (checked before
        # the key is).
        read_ahead(
            request,
            [selectors.FLEET_STATE_KEY, ratelimit.auth_failures_peek_key(client_ip(request))],
        )
        if selectors.request_fleet_state(request).api_disabled:
            raise ApplicationError(MSG_API_DISABLED, status_code=503)
        super().initial(request, *args, **kwargs)

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise exceptions.NotAuthenticated(MSG_MISSING)
        super().permission_denied(request, message=message, code=code)


class FleetPublicView(FleetHostView):
    """A host-facing route that needs no key (still answers 503 while disabled)."""

    authentication_classes: list = []
    permission_classes: list = []


class FleetAdminView(APIView):
    """`/admin/*` JSON: an admin token, or mTLS from a trusted proxy (+ DASHBOARD_ADMIN_KEY)."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [FleetAdminAccess]

    def permission_denied(self, request, message=None, code=None):
        raise exceptions.PermissionDenied(message or FleetAdminAccess.message)


def admin_actor(request) -> str:
    """Who made an admin change: the admin token, else the mTLS client behind the proxy."""
    from accounts.services import request_actor

    return request_actor(request) or "admin:mtls"
