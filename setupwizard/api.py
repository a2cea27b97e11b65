"""`GET /api/setup/status` (public). The wizard and its POST routes come with the dashboard."""

from __future__ import annotations

from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from setupwizard.selectors import setup_status
from setupwizard.serializers import SetupStatusOutputSerializer


class SetupStatusApi(APIView):
    # Public, and read before anyone holds a token: a stale credential must not hide it.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response(SetupStatusOutputSerializer(setup_status()).data)
