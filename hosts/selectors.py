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
from functools import cache as once
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models, transaction

from core.cache import request_get
from hosts.models import CanonicalAuth, FleetSetting, Host, HostAuthState

API_DISABLED = "api_disabled"
QUOTA_STATE = "quota_state"
CLIENT_VERSION_STATE = "client_version_state"
_FLEET_STATE_KEYS = (API_DISABLED, QUOTA_STATE, CLIENT_VERSION_STATE)


FLEET_STATE_KEY = "fleet:state:v1"
FLEET_STATE_TTL = 10
# The snapshot's kill switch again, as a plain 0 or 1 a Redis script can read (the snapshot is
# pickled): written and dropped with the snapshot, in the same command (core.cache.GuardedRound).
FLEET_DISABLED_KEY = "fleet:api_disabled:v1"


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


def fleet_state(request: Any = None) -> FleetState:
    """The snapshot from the shared cache (read ahead for `request` when it was: see
    hosts.api_base.FleetHostView), or from the database (and then cached)."""
    if not _cache_shared():
        return fleet_state_load()
    state = request_get(request, FLEET_STATE_KEY)
    if isinstance(state, FleetState):
        return state
    state = fleet_state_load()
    cache.set_many(
        {FLEET_STATE_KEY: state, FLEET_DISABLED_KEY: int(state.api_disabled)}, FLEET_STATE_TTL
    )
    return state


def fleet_state_changed() -> None:
    """Call from any write to what the snapshot holds: dropped now (this transaction's later
    reads rebuild it) and again after commit (a reader may have cached the old rows meanwhile)."""
    keys = [FLEET_STATE_KEY, FLEET_DISABLED_KEY]
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys), robust=True)


def request_fleet_state(request) -> FleetState:
    """The state a host view read in `initial` (or a fresh read for other callers)."""
    django_request = getattr(request, "_request", request)
    state = getattr(django_request, "fleet_state", None)
    if state is None:
        state = fleet_state(request)
        django_request.fleet_state = state
    return state


# --- The host behind a key, on every host call.
#
# The ORM spends about 0.8 ms of CPU compiling `select_related("auth_state").filter(...)` for a
# row PostgreSQL finds in 0.1 ms; the statement never changes, so it is written once per process
# from the models' metadata, and the rows are turned into instances with the same converters
# the ORM applies (SQLite's booleans and datetimes; none on PostgreSQL).


@dataclass(frozen=True)
class _Loader:
    model: type[models.Model]
    attnames: list[str]
    converters: list[tuple[int, list, Any]]

    def load(self, values: tuple, db: str) -> models.Model:
        values_list = list(values)
        for position, converters, column in self.converters:
            value = values_list[position]
            for converter in converters:
                value = converter(value, column, connection)
            values_list[position] = value
        return self.model.from_db(db, self.attnames, values_list)


def _loader(model: type[models.Model], alias: str) -> _Loader:
    fields = model._meta.concrete_fields
    converters = []
    for position, field in enumerate(fields):
        column = field.get_col(alias)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((position, found, column))
    return _Loader(model, [field.attname for field in fields], converters)


@once
def _host_by_key_statement(vendor: str) -> tuple[str, _Loader, _Loader]:
    qn = connection.ops.quote_name
    host_alias, state_alias = "h", "s"
    columns = [f"{host_alias}.{qn(f.column)}" for f in Host._meta.concrete_fields]
    columns += [f"{state_alias}.{qn(f.column)}" for f in HostAuthState._meta.concrete_fields]
    host_table = qn(Host._meta.db_table)
    state_table = qn(HostAuthState._meta.db_table)
    state_host = qn(HostAuthState._meta.get_field("host").column)
    host_pk = qn(Host._meta.pk.column)
    key_hash = qn(Host._meta.get_field("api_key_hash").column)
    # Names from the models' metadata, quoted; the one value is a parameter.
    select = f"SELECT {', '.join(columns)} FROM {host_table} {host_alias}"  # noqa: S608
    sql = (
        f"{select} LEFT JOIN {state_table} {state_alias}"
        f" ON {state_alias}.{state_host} = {host_alias}.{host_pk}"
        f" WHERE {host_alias}.{key_hash} = %s"
    )
    return sql, _loader(Host, host_alias), _loader(HostAuthState, state_alias)


def host_by_key_hash(key_hash: str) -> Host | None:
    """The host whose key hashes to `key_hash` (unique), with its auth state (or None) loaded,
    in one query; the same instances `Host.objects.select_related("auth_state")` gives."""
    sql, host_loader, state_loader = _host_by_key_statement(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(host_loader.attnames)
    host = host_loader.load(row[:split], connection.alias)
    assert isinstance(host, Host)
    state = None if row[split] is None else state_loader.load(row[split:], connection.alias)
    # What select_related leaves: the state cached on the host, None included (no query later).
    Host.auth_state.related.set_cached_value(host, state)
    if state is not None:
        HostAuthState.host.field.set_cached_value(state, host)
    return host
