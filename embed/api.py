"""Embeds (`/embed/totals`, `/embed/stream`) and the origins whitelist (`/api/admin/embed-origins`).

An embed needs an embed (or admin) token, as `?token=` or Bearer, *and* a caller origin in the
whitelist: `Origin`, else the origin of `Referer`. django-eventstream's
`EVENTSTREAM_ALLOW_ORIGINS` does not look at `Origin` at all, so the check lives here. CORS
headers are only ever sent to whitelisted origins.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import QueryTokenAuthentication
from accounts.permissions import CanEmbed, IsAdmin
from accounts.services import request_actor
from core.client_ip import client_ip
from core.errors import ApplicationError
from core.negotiation import JsonErrorNegotiation
from core.time import iso
from embed import selectors, services
from embed.access import (
    EmbedOriginAllowed,
    EmbedRateThrottle,
    cors_headers_add,
    preflight_response,
)
from embed.models import EmbedOrigin
from usage.aggregation import UsageFilter
from usage.live import grip
from usage.live.views import stream_response
from usage.selectors import totals
from usage.serializers import totals_body

CORS_ALLOW_METHODS = "GET, OPTIONS"
# Authorization for Bearer embeds; Last-Event-ID and Cache-Control are what EventSource
# polyfills send when they reconnect.
CORS_ALLOW_HEADERS = "Authorization, Cache-Control, Last-Event-ID"


def origin_row(row: EmbedOrigin) -> dict:
    return {
        "id": row.pk,
        "origin": row.origin,
        "label": row.label,
        "createdAt": iso(row.created_at),
    }


class EmbedOriginListApi(APIView):
    permission_classes = [IsAdmin]

    def get(self, request):
        return Response({"origins": [origin_row(row) for row in selectors.embed_origin_list()]})

    def post(self, request):
        if not isinstance(request.data, dict):
            raise ApplicationError("Request body must be a JSON object.")
        if "origin" not in request.data:
            raise ApplicationError("Invalid request.", fields={"origin": "This field is required."})
        row = services.embed_origin_add(
            origin=request.data["origin"],
            label=request.data.get("label") or "",
            actor=request_actor(request),
            ip=client_ip(request),
        )
        return Response(origin_row(row), status=status.HTTP_201_CREATED)


class EmbedOriginDetailApi(APIView):
    permission_classes = [IsAdmin]

    def delete(self, request, origin_id: int):
        services.embed_origin_remove(
            origin_id=origin_id, actor=request_actor(request), ip=client_ip(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class EmbedApi(APIView):
    authentication_classes = [QueryTokenAuthentication]
    permission_classes = [CanEmbed, EmbedOriginAllowed]
    throttle_classes = [EmbedRateThrottle]
    content_negotiation_class = JsonErrorNegotiation

    def dispatch(self, request, *args, **kwargs):
        # A CORS preflight carries no credentials: it is answered from the origin alone.
        if request.method == "OPTIONS":
            return self.preflight(request)
        return super().dispatch(request, *args, **kwargs)

    def preflight(self, request) -> HttpResponse:
        return preflight_response(request, methods=CORS_ALLOW_METHODS, headers=CORS_ALLOW_HEADERS)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        cors_headers_add(request, response)
        return response


class EmbedTotalsApi(EmbedApi):
    def get(self, request):
        response = Response(totals_body(totals(UsageFilter()), at=timezone.now()))
        response["Cache-Control"] = "no-store"
        return response


class EmbedStreamApi(EmbedApi):
    def dispatch(self, request, *args, **kwargs):
        if request.method != "OPTIONS" and grip.grip_mode():
            early = grip.stream_gate(request)  # Pushpin's follow-ups carry no token or Origin
            if early is not None:
                return early
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return stream_response(request)
