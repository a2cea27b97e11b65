from __future__ import annotations

from rest_framework import serializers

from core.time import epoch_ms


class EpochMsField(serializers.Field):
    """A datetime as epoch milliseconds, or null (wigtoken's dashboard reads a number)."""

    def to_representation(self, value):
        return epoch_ms(value)


class SetupStatusOutputSerializer(serializers.Serializer):
    """`GET /api/setup/status`: `{complete, scenario, infra, completedAt, headless}`."""

    complete = serializers.BooleanField()
    scenario = serializers.CharField(allow_null=True)
    infra = serializers.CharField(allow_null=True)
    completedAt = EpochMsField(source="completed_at", allow_null=True)  # noqa: N815
    headless = serializers.BooleanField()
