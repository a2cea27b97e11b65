"""`/api/setup/*`: status (public), complete and reset (admin token)."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsAdmin
from accounts.services import request_actor
from core.client_ip import client_ip
from setupwizard import services
from setupwizard.models import Infra, Scenario
from setupwizard.selectors import setup_status
from setupwizard.serializers import SetupStatusOutputSerializer


class SetupStatusApi(APIView):
    # Public, and read before anyone holds a token: a stale credential must not hide it.
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response(SetupStatusOutputSerializer(setup_status()).data)


class SetupCompleteApi(APIView):
    """`POST /api/setup/complete {scenario, infra}` → the new status."""

    permission_classes = [IsAdmin]

    class InputSerializer(serializers.Serializer):
        scenario = serializers.ChoiceField(choices=Scenario.values)
        infra = serializers.ChoiceField(choices=Infra.values)

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.setup_complete(
            scenario=data.validated_data["scenario"],
            infra=data.validated_data["infra"],
            actor=request_actor(request),
            ip=client_ip(request),
        )
        return Response(SetupStatusOutputSerializer(setup_status()).data)


class SetupResetApi(APIView):
    """`POST /api/setup/reset` → the (cleared) status."""

    permission_classes = [IsAdmin]

    def post(self, request):
        services.setup_reset(actor=request_actor(request), ip=client_ip(request))
        return Response(SetupStatusOutputSerializer(setup_status()).data)
