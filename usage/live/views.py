"""GET /api/usage/stream, and the streaming response the embed stream shares."""

from __future__ import annotations

from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.views import APIView

from accounts.authentication import QueryTokenAuthentication
from accounts.permissions import UsageReadAccess
from core.negotiation import JsonErrorNegotiation
from embed.access import EmbedTokenUsageRule
from usage.live import grip
from usage.live.hub import totals_stream
from usage.live.slots import SlotStreamingResponse, stream_admit


def release_db_connections() -> None:
    """Close this thread's connections before a response streams (they would stay pinned).

    Inside a transaction (a test's, or ATOMIC_REQUESTS) closing would break it; there the
    connection is the caller's to manage."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def stream_response(request) -> HttpResponse | StreamingHttpResponse:
    """The totals stream for an authorised request: held by Pushpin when GRIP_URL is set (it
    enforces no per-client stream count: no process of ours sees the streams end), else served
    here within the client's stream slots."""
    if grip.grip_mode():
        return grip.hold_response(request)
    slots = stream_admit(request)
    release_db_connections()
    response = SlotStreamingResponse(totals_stream(), content_type="text/event-stream", slots=slots)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each frame on at once
    return response


class UsageStreamApi(APIView):
    """GET /api/usage/stream: public like the usage reads, unless USAGE_API_PUBLIC=false (then a
    read or admin token, as Bearer or `?token=`, since EventSource cannot send headers; an embed
    token streams from `/embed/stream`)."""

    authentication_classes = [QueryTokenAuthentication]
    permission_classes = [UsageReadAccess, EmbedTokenUsageRule]
    content_negotiation_class = JsonErrorNegotiation

    def dispatch(self, request, *args, **kwargs):
        if grip.grip_mode():
            early = grip.stream_gate(request)  # before authentication: see grip.py
            if early is not None:
                return early
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        return stream_response(request)
