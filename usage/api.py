"""Usage dialect routes: POST /api/ingest/messages and the /api/usage/* reads."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.http import HttpResponse
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanIngest, UsageReadAccess
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.hashing import sha256_hex
from core.params import int_param, invalid, text_param, time_param
from core.principals import HOST, principal_of
from core.rendering import json_response
from core.time import epoch_ms
from embed.access import EmbedTokenUsageRule, UsageReadThrottle
from hosts.api_base import HostCallMixin
from usage import selectors, serializers
from usage.aggregation import UsageFilter
from usage.bodycache import cached_body
from usage.collector import collector_source
from usage.services import ingest as services

DEFAULT_SERIES_RANGE = timedelta(days=7)
DEFAULT_STEP_MS = 3_600_000


def json_ok(data: dict) -> HttpResponse:
    """A 200 JSON answer rendered here, as DRF's JSONRenderer would render it.

    Not a DRF Response: under ASGI each response that needs rendering costs two more hops
    between the event loop and a worker thread, a fixed cost that dominates a rollup read.
    """
    return json_response(data)


def usage_filter(request, *, user: str | None = None) -> UsageFilter:
    """`from`, `to`, `user`, `machine`, `model_family` from the query string."""
    params = request.query_params
    ts_from = time_param(params, "from")
    ts_to = time_param(params, "to")
    if ts_from is not None and ts_to is not None and ts_from >= ts_to:
        raise invalid("to", "Must be after from.")
    return UsageFilter(
        user=user if user is not None else text_param(params, "user"),
        machine=text_param(params, "machine"),
        model_family=text_param(params, "model_family"),
        ts_from=ts_from,
        ts_to=ts_to,
    )


class IngestMessagesApi(HostCallMixin, APIView):
    permission_classes = [CanIngest]

    def post(self, request: Request) -> Response:
        principal = principal_of(request)
        is_host = principal.kind == HOST
        result = services.messages_ingest(
            body=request.data,
            user=principal.user,
            forced_machine=principal.machine if is_host else None,
            host_id=principal.credential.pk if is_host else None,
            actor=principal.actor,
            ip=client_ip(request),
        )
        return Response(result)


class UsageReadApi(HostCallMixin, APIView):
    permission_classes = [UsageReadAccess, EmbedTokenUsageRule]
    throttle_classes = [UsageReadThrottle]
    # The routes wigtoken's widget calls from its host page: an embed token may read them
    # (from a whitelisted origin) when the usage API is not public.
    embed_readable = False


class WidgetReadApi(UsageReadApi):
    embed_readable = True


class TotalsApi(WidgetReadApi):
    def get(self, request):
        flt = usage_filter(request)
        return json_ok(serializers.totals_body(selectors.totals(flt), at=timezone.now()))


class TimeseriesApi(WidgetReadApi):
    def get(self, request):
        params = request.query_params
        flt = usage_filter(request)
        now = timezone.now()
        ts_to = flt.ts_to or now
        ts_from = flt.ts_from or ts_to - DEFAULT_SERIES_RANGE
        if ts_from >= ts_to:
            raise invalid("from", "Must be before to.")
        step = int_param(
            params,
            "step",
            default=DEFAULT_STEP_MS,
            minimum=selectors.MIN_STEP_MS,
            maximum=10**12,
        )
        tz = None
        tz_name = text_param(params, "tz")
        if tz_name is not None:
            try:
                tz = ZoneInfo(tz_name)
            except (ZoneInfoNotFoundError, ValueError):
                raise invalid("tz", "Unknown time zone; use an IANA name.") from None
        series = selectors.timeseries(
            flt, from_ms=epoch_ms(ts_from), to_ms=epoch_ms(ts_to), step_ms=step, tz=tz
        )
        return json_ok(serializers.timeseries_body(series))


class LeaderboardApi(WidgetReadApi):
    def get(self, request):
        params = request.query_params
        by = params.get("by") or "user"
        if by not in selectors.LEADERBOARD_BY:
            raise invalid("by", "Use user, machine or model_family.")
        limit = int_param(params, "limit", default=20, minimum=1, maximum=100)
        entries = selectors.leaderboard(usage_filter(request), by=by, limit=limit)
        return json_ok(serializers.leaderboard_body(by, entries))


class UserDetailApi(UsageReadApi):
    def get(self, request, name: str):
        detail = selectors.user_detail(usage_filter(request, user=name))
        if detail is None:
            raise ApplicationError("Unknown user.", status_code=404)
        return json_ok(serializers.user_detail_body(detail))


class RecentApi(WidgetReadApi):
    def get(self, request):
        limit = int_param(request.query_params, "limit", default=50, minimum=1, maximum=500)
        return json_ok(
            serializers.recent_body(selectors.recent(usage_filter(request), limit=limit))
        )


class BreakdownApi(UsageReadApi):
    def get(self, request):
        flt = usage_filter(request)
        # Everything but the timestamp is the same until usage data changes (usage.bodycache).
        head = cached_body(
            ("breakdown", flt),
            lambda: serializers.breakdown_json_head(selectors.breakdown_table(flt)),
        )
        body = head + serializers.breakdown_json_tail(timezone.now())
        return HttpResponse(body, content_type="application/json")


class BreakdownCsvApi(UsageReadApi):
    def get(self, request):
        flt = usage_filter(request)
        body = cached_body(
            ("breakdown.csv", flt),
            lambda: serializers.breakdown_csv(selectors.breakdown_table(flt)).encode(),
        )
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="usage-breakdown.csv"'
        return response


class CollectorDownloadApi(APIView):
    """`GET /api/ingest/collector`: the `tokenfleet-collect` program, for the host installer.

    Same credential as ingest (a host key or an ingest token); `X-SHA256` lets the installer
    check the bytes before it installs them.
    """

    permission_classes = [CanIngest]

    def get(self, request):
        body = collector_source()
        digest = sha256_hex(body)
        response = HttpResponse(body, content_type="text/x-python; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="tokenfleet-collect"'
        response["X-SHA256"] = digest
        response["ETag"] = f'"{digest}"'
        response["Cache-Control"] = "private, no-cache"
        return response
