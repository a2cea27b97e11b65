"""Reads for the fleet: persisted flags and the values the runner publishes for requests.

Requests never wait on an upstream: the runner stores the ChatGPT quota and the latest client
version as `FleetSetting` rows. A host request needs those, the kill switch and the canonical
login's identity; they change rarely and are read on every `cdx` run, so they travel together
as one snapshot cached in Redis (when REDIS_URL is set; without it they are read, two
queries): rebuilt on a miss, dropped by every write that changes them (at once and again after
commit), and kept at most FLEET_STATE_TTL seconds as a safety net.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from hosts.models import CanonicalAuth, FleetSetting

API_DISABLED = "api_disabled"
QUOTA_STATE = "quota_state"
CLIENT_VERSION_STATE = "client_version_state"
_FLEET_STATE_KEYS = (API_DISABLED, QUOTA_STATE, CLIENT_VERSION_STATE)


FLEET_STATE_KEY = "fleet:state:v1"
FLEET_STATE_TTL = 10


@dataclass(frozen=True)
class CanonicalMeta:
    """The current canonical login without its body (enough to compare and to answer)."""

    pk: int
    digest: str
    last_refresh: str
    last_refresh_ns: int


@dataclass(frozen=True)
class FleetState:
    api_disabled: bool
    quota: dict | None  # published by the runner's quota step (see hosts.quota)
    client_version: dict | None  # published by the runner's client_version step
    canonical: CanonicalMeta | None = None


def setting_get(key: str, default=None):
    row = FleetSetting.objects.filter(key=key).only("value").first()
    return default if row is None else row.value


def api_disabled() -> bool:
    return bool(setting_get(API_DISABLED, False))


def fleet_state_load() -> FleetState:
    """The kill switch, every published upstream value and the canonical identity (2 queries)."""
    values = dict(
        FleetSetting.objects.filter(key__in=_FLEET_STATE_KEYS).values_list("key", "value")
    )
    quota = values.get(QUOTA_STATE)
    version = values.get(CLIENT_VERSION_STATE)
    row = (
        CanonicalAuth.objects.filter(is_current=True)
        .values_list("pk", "digest", "last_refresh", "last_refresh_ns")
        .first()
    )
    return FleetState(
        api_disabled=bool(values.get(API_DISABLED, False)),
        quota=quota if isinstance(quota, dict) else None,
        client_version=version if isinstance(version, dict) else None,
        canonical=CanonicalMeta(*row) if row else None,
    )


def _cache_shared() -> bool:
    """Only a cache every process shares (Redis) may hold the snapshot: the runner writes from
    a process of its own, whose writes cannot drop another process's local-memory copy."""
    return not settings.CACHES["default"]["BACKEND"].endswith("LocMemCache")


def fleet_state() -> FleetState:
    """The snapshot from the shared cache, or from the database (and then cached)."""
    if not _cache_shared():
        return fleet_state_load()
    state = cache.get(FLEET_STATE_KEY)
    if isinstance(state, FleetState):
        return state
    state = fleet_state_load()
    cache.set(FLEET_STATE_KEY, state, FLEET_STATE_TTL)
    return state


def fleet_state_changed() -> None:
    """Call from any write to what the snapshot holds: dropped now (this transaction's later
    reads rebuild it) and again after commit (a reader may have cached the old rows meanwhile)."""
    cache.delete(FLEET_STATE_KEY)
    transaction.on_commit(lambda: cache.delete(FLEET_STATE_KEY), robust=True)


def request_fleet_state(request) -> FleetState:
    """The state a host view read in `initial` (or a fresh read for other callers)."""
    django_request = getattr(request, "_request", request)
    state = getattr(django_request, "fleet_state", None)
    if state is None:
        state = fleet_state()
        django_request.fleet_state = state
    return state
