"""Reads for the fleet."""

from __future__ import annotations

from hosts.models import FleetSetting

API_DISABLED = "api_disabled"


def setting_get(key: str, default=None):
    row = FleetSetting.objects.filter(key=key).only("value").first()
    return default if row is None else row.value


def api_disabled() -> bool:
    return bool(setting_get(API_DISABLED, False))
