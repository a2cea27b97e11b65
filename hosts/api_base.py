"""Base views for the fleet dialect: the envelope, host-key access, admin access, kill switch."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from rest_framework import exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from accounts.authentication import ApiTokenAuthentication
from accounts.permissions import FleetAdminAccess
from accounts.throttles import CredentialRateThrottle
from core import ratelimit
from core.cache import (
    CacheRound,
    GuardedRound,
    guarded_round_run,
    guarded_round_supported,
    read_ahead,
    read_ahead_store,
)
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.principals import HOST, Principal, principal_of
from core.rendering import json_response
from hosts import selectors
from hosts.authentication import (
    MSG_API_DISABLED,
    MSG_MISSING,
    HostKeyAuthentication,
    host_principal,
    presented_host,
    presented_key,
)
from hosts.models import Host, HostStatus
from hosts.services import host_call_record, host_calls_key, host_ip_matches


def ok(data: dict, status: int = 200, **headers) -> HttpResponse:
    """The fleet envelope, rendered here (the bytes DRF's JSONRenderer writes: core.rendering)."""
    response = json_response({"status": "ok", "data": data}, status=status)
    for key, value in headers.items():
        response[key.replace("_", "-")] = value
    return response


def as_drf(request: Request | HttpRequest) -> Request:
    """For DRF's typing: the permission, throttle and authentication classes (and the view
    methods that call them) read only what a Django request has too (`user`, `META`, `path`),
    so `plain_post_route` hands them the Django request."""
    return cast(Request, request)


def request_host(request: Request | HttpRequest) -> Host:
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

    def ip_override_allowed(self, request: Request | HttpRequest) -> bool:
        return False

    def get_throttles_classes(self) -> list[type]:
        return list(self.throttle_classes)  # type: ignore[attr-defined]

    def host_cache_reads(self, request: Request | HttpRequest, host: Host) -> list[str]:
        """Cache keys the view will read for this host (read in the call's round trip)."""
        return []

    def perform_authentication(self, request: Request) -> None:
        super().perform_authentication(request)  # type: ignore[misc]
        self.host_call(request, request.user)

    def host_call(self, request: Request | HttpRequest, principal: object) -> None:
        """What follows a successful authentication of a host (nothing for other callers)."""
        if isinstance(principal, Principal) and principal.kind == HOST:
            if self.host_kill_switch and selectors.api_disabled():
                raise ApplicationError(MSG_API_DISABLED, status_code=503)
            host_call_record(
                host=principal.credential,
                ip=client_ip(request),
                override_allowed=self.ip_override_allowed(request),
                count_ahead=self._count_ahead(request) if self.host_call_round else None,
            )

    def _count_ahead(self, request: Request | HttpRequest):
        """After the IP rule: one round trip that counts the call and the request's rate-limit
        window (CredentialRateThrottle then finds it counted) and reads the view's keys; none
        when `FleetHostView.fleet_state_read` already counted this host's call."""

        def run() -> int:
            principal = principal_of(request)
            host: Host = principal.credential
            django_request = getattr(request, "_request", request)
            counted = django_request.__dict__.pop("_host_call_counted", None)
            if counted is not None and counted[0] == host.pk:
                return int(counted[1])
            cache_round, finish = self._count_round(request, host, principal)
            return finish(cache_round.run())

        return run

    def _count_round(
        self, request: Request | HttpRequest, host: Host, principal: Principal
    ) -> tuple[CacheRound, Callable[[list[Any]], int]]:
        """The host call's cache work as one round (the call count, the rate-limit count, the
        view's reads) and what turns its results into the call count (storing the rest)."""
        cache_round = CacheRound()
        cache_round.counter_incr(host_calls_key(host.pk), timeout=None)
        rate_counted = None
        if CredentialRateThrottle in self.get_throttles_classes():
            rate_counted = CredentialRateThrottle.count_ahead(
                cache_round, as_drf(request), principal
            )
        reads = self.host_cache_reads(request, host)
        for key in reads:
            cache_round.get(key)

        def finish(results: list[Any]) -> int:
            pending, *rest = results
            if rate_counted is not None:
                rate_counted(rest.pop(0))
            read_ahead_store(request, dict(zip(reads, rest, strict=True)))
            return int(pending)

        return cache_round, finish


class FleetHostView(HostCallMixin, APIView):
    """A host-facing route: host key required, 503 while the API is disabled."""

    authentication_classes = [HostKeyAuthentication]
    permission_classes = [IsHost]
    host_kill_switch = False  # checked for everyone in initial()

    host_call_round = True

    def initial(self, request, *args, **kwargs):
        self.fleet_state_read(request)
        super().initial(request, *args, **kwargs)

    def fleet_state_read(
        self, request: Request | HttpRequest, *, count_ahead: bool = False
    ) -> None:
        """The kill switch and the runner's published values, read once for the whole request,
        in one round trip with the client IP's failed-authentication count (checked before the
        key is); 503 while the API is disabled.

        `count_ahead` (plain_dispatch, where authentication and the host call follow at once):
        on Redis, the same round trip also does the host call's cache work when nothing can
        stop the call (`_steady_round`)."""
        failures_key = ratelimit.auth_failures_peek_key(client_ip(request))
        if not (count_ahead and self._steady_round(request, failures_key)):
            read_ahead(request, [selectors.FLEET_STATE_KEY, failures_key])
        if selectors.request_fleet_state(request).api_disabled:
            raise ApplicationError(MSG_API_DISABLED, status_code=503)

    def _steady_round(self, request: Request | HttpRequest, failures_key: str) -> bool:
        """Read the snapshot and the failed-authentication count in one Redis script that also
        counts the call (`_count_round`) when the key is a known active host's, calling from its
        bound address (the IP rule passes and writes nothing), and, in the same atomic step, the
        kill switch is off and the address is not blocked: the steps that follow (kill switch,
        authentication, IP rule) then pass with the values read, and the host call finds its
        call counted. Anything else counts nothing here: those steps run as before, the call
        (if it passes them) counted after the IP rule. Looks the host up first (one query,
        which authentication then reuses; only reads, so a call the kill switch or a blocked
        address refuses answers as before, at the cost of that query). False: not on Redis,
        or this view's authentication is not the host key's alone, or no key (nothing read)."""
        if not (
            guarded_round_supported()
            and self.host_call_round
            and list(self.authentication_classes) == [HostKeyAuthentication]
        ):
            return False
        key = presented_key(request)
        if key is None:
            return False
        host = presented_host(request, key)
        ops: list[tuple[str, str, int | None]] = []
        finish = None
        if (
            host is not None
            and host.status == HostStatus.ACTIVE
            and host_ip_matches(host, client_ip(request))
        ):
            cache_round, finish = self._count_round(request, host, host_principal(host))
            ops = cache_round.ops
        guard = GuardedRound(
            flag=selectors.FLEET_DISABLED_KEY,
            snapshot=selectors.FLEET_STATE_KEY,
            counter=failures_key,
            limit=int(settings.AUTH_FAIL_LIMIT),
        )
        snapshot, failures, results = guarded_round_run(guard, ops)
        read_ahead_store(request, {selectors.FLEET_STATE_KEY: snapshot, failures_key: failures})
        if host is not None and finish is not None and results is not None:
            django_request = getattr(request, "_request", request)
            django_request._host_call_counted = (host.pk, finish(results))  # type: ignore[union-attr]
        return True

    def permission_denied(self, request, message=None, code=None):
        # No credential was accepted (every authenticator here answers a Principal or nothing).
        if self.authentication_classes and not isinstance(request.user, Principal):
            raise exceptions.NotAuthenticated(MSG_MISSING)
        super().permission_denied(request, message=message, code=code)

    # --- POST without DRF's per-request machinery (see `plain_post_route`).

    # The POST handler of a view served by `plain_post_route`, given the parsed body; its
    # `post` is `return self.post_data(request, request.data)`. Declared here, defined by such a
    # view: `plain_post_route` refuses a view class without one when the urlconf is built.
    post_data: Callable[[Request | HttpRequest, Any], HttpResponseBase]

    def plain_dispatch(self, request: HttpRequest) -> HttpResponseBase:
        """APIView.dispatch for a JSON POST that asks for JSON (`plain_post_eligible`), with
        the same steps in the same order: the kill switch, authentication, the host call,
        permissions, throttles, the body as the view's JSON parser reads it, then the handler;
        errors and the final headers through DRF's own handle_exception / finalize_response.

        What it leaves out costs most of DRF's time on a small request and decides nothing
        here: the Request wrapper, content negotiation (one renderer, and the client accepts
        JSON), the parser choice (the body is JSON), versioning (none)."""
        self.headers = self.default_response_headers
        renderer = self.renderer_classes[0]()
        request.accepted_renderer = renderer  # type: ignore[attr-defined]
        request.accepted_media_type = renderer.media_type  # type: ignore[attr-defined]
        try:
            self.fleet_state_read(request, count_ahead=True)
            self._plain_authenticate(request)
            self.host_call(request, request.user)
            self.check_permissions(as_drf(request))
            self.check_throttles(as_drf(request))
            response = self.post_data(request, self._plain_data(request))
        except Exception as exc:
            response = self.handle_exception(exc)
        return self.finalize_response(as_drf(request), cast(Response, response))

    def _plain_authenticate(self, request: HttpRequest) -> None:
        """DRF's Request._authenticate: the first authenticator that answers sets the user and
        its credential; none: no user (UNAUTHENTICATED_USER is None); a refusal raises."""
        request.user, request.auth = None, None  # type: ignore[assignment, attr-defined]
        for authenticator in self.get_authenticators():
            found = authenticator.authenticate(as_drf(request))
            if found is not None:
                request.user, request.auth = found  # type: ignore[attr-defined]
                return

    def _plain_data(self, request: HttpRequest) -> Any:
        """`request.data` as DRF's Request reads a JSON body: the view's parser, the request's
        charset (else DEFAULT_CHARSET); ParseError and the parser's own errors as they are."""
        parser = self.get_parsers()[0]
        context = {
            **self.get_parser_context(request),
            "request": request,
            "encoding": request.encoding or settings.DEFAULT_CHARSET,
        }
        return parser.parse(io.BytesIO(request.body), request.content_type, context)

    def raise_uncaught_exception(self, exc):
        if not isinstance(self.request, Request):
            raise exc  # plain_dispatch: no DRF request to switch to plain-text tracebacks
        super().raise_uncaught_exception(exc)


def _content_length(request: HttpRequest) -> int:
    # As DRF's Request._load_stream reads it: no length (a chunked body) parses nothing.
    meta = request.META
    try:
        return int(meta.get("CONTENT_LENGTH", meta.get("HTTP_CONTENT_LENGTH", 0)))
    except (ValueError, TypeError):
        return 0


def plain_post_eligible(view_class: type[FleetHostView], request: HttpRequest) -> bool:
    """A POST that DRF would parse with the view's JSON parser and answer with its JSON
    renderer whatever it negotiated: exactly `cdx`'s calls (JSON body, no Accept header)."""
    return (
        request.method == "POST"
        and request.content_type == "application/json"
        and _content_length(request) > 0
        and request.META.get("HTTP_ACCEPT", "*/*") in ("*/*", "application/json")
        and api_settings.URL_FORMAT_OVERRIDE not in request.GET
        and [parser.media_type for parser in view_class.parser_classes] == ["application/json"]
        and [renderer.media_type for renderer in view_class.renderer_classes]
        == ["application/json"]
    )


def plain_post_route(view_class: type[FleetHostView]) -> Callable[..., HttpResponseBase]:
    """`view_class.as_view()`, except that a POST `plain_post_eligible` accepts goes through
    `plain_dispatch`: the same rules (the view's own methods and classes), without building
    DRF's Request. For the hot host route every `cdx` run calls (`POST /auth`); any other
    method or request (DELETE, OPTIONS, a form body, `Accept: text/html`) is DRF's as before."""
    if not callable(getattr(view_class, "post_data", None)):
        raise ImproperlyConfigured(f"{view_class.__name__} has no post_data for plain_post_route")
    drf_view = view_class.as_view()

    @functools.wraps(drf_view)  # csrf_exempt, and `cls` for the OpenAPI schema, as DRF's
    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if args or kwargs or not plain_post_eligible(view_class, request):
            return drf_view(request, *args, **kwargs)
        instance = view_class()
        instance.setup(request)
        return instance.plain_dispatch(request)

    return view


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
