"""What the dashboard pages show, composed from the other apps' selectors (no ORM here).

Each page reads through the same selectors as the JSON route it mirrors (`/api/usage/*`,
`/admin/overview`, `/admin/hosts`, ...), so a page and its API always agree.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from core.time import epoch_ms, from_epoch_ms
from hosts import quota
from hosts import selectors as fleet
from hosts.fleetadmin import selectors as admin_selectors
from hosts.fleetauth import selectors as auth_selectors
from hosts.serializers import chatgpt_usage_data
from hosts.services import host_calls_pending
from usage import fleet_selectors
from usage import selectors as usage_selectors
from usage.aggregation import DAY_MS, HOUR_MS, Sums, UsageFilter, aggregate

TOP_LIMIT = 5
CHART_DAYS = 30


def login_state(now: datetime | None = None) -> Any | None:
    """The canonical login's freshness from the single refresher (issue 15: access-token expiry,
    last refresh and who made it, refresh state): `LoginFreshness`, or None without a login or
    on a server that does not have the refresher yet."""
    try:
        refresh_selectors = importlib.import_module("hosts.fleetauth.refresh.selectors")
    except ModuleNotFoundError:
        return None
    return refresh_selectors.login_freshness(now=now)


# --- Overview.


@dataclass(frozen=True)
class Overview:
    now: datetime
    periods: fleet_selectors.Periods
    series: usage_selectors.Series
    top_users: list[tuple[str, Sums]]
    top_machines: list[tuple[str, Sums]]
    top_families: list[tuple[str, Sums]]
    hosts: dict[str, int]
    canonical: admin_selectors.CanonicalStatus | None
    quota: dict[str, Any]
    api_disabled: bool
    login: Any | None = None  # login_state()


def overview_window(now: datetime) -> tuple[datetime, datetime]:
    """The overview's chart and leaders: the last CHART_DAYS UTC days, today included."""
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day_start - timedelta(days=CHART_DAYS - 1), day_start + timedelta(days=1)


def overview(now: datetime | None = None) -> Overview:
    now = now or timezone.now()
    periods = fleet_selectors.periods(now)
    chart_from, chart_to = overview_window(now)
    series = usage_selectors.timeseries(
        UsageFilter(),
        from_ms=epoch_ms(chart_from),
        to_ms=epoch_ms(chart_to),
        step_ms=DAY_MS,
        tz=None,
    )
    window = UsageFilter(ts_from=chart_from)
    state = fleet.fleet_state()
    canonical = auth_selectors.canonical_current()
    return Overview(
        now=now,
        periods=periods,
        series=series,
        top_users=usage_selectors.leaderboard(window, by="user", limit=TOP_LIMIT),
        top_machines=usage_selectors.leaderboard(window, by="machine", limit=TOP_LIMIT),
        top_families=usage_selectors.leaderboard(window, by="model_family", limit=TOP_LIMIT),
        hosts=admin_selectors.host_counts(),
        canonical=admin_selectors.canonical_status(canonical),
        quota=chatgpt_usage_data(
            quota.quota_for_request(
                state=state.quota, canonical_digest=canonical.digest if canonical else None
            )
        ),
        api_disabled=state.api_disabled,
        login=login_state(now) if canonical is not None else None,
    )


# --- Usage.

# Range presets: (label, length, bucket step).
RANGES: dict[str, tuple[str, timedelta, int]] = {
    "24h": ("24 h", timedelta(hours=24), HOUR_MS),
    "7d": ("7 d", timedelta(days=7), 6 * HOUR_MS),
    "30d": ("30 d", timedelta(days=30), DAY_MS),
    "90d": ("90 d", timedelta(days=90), DAY_MS),
}
DEFAULT_RANGE = "7d"
BOARD_LIMIT = 10
RECENT_LIMIT = 25
CHOICES_LIMIT = 100


@dataclass(frozen=True)
class UsagePage:
    flt: UsageFilter
    range_key: str
    series: usage_selectors.Series
    overall: Sums
    boards: dict[str, list[tuple[str, Sums]]]
    breakdown: list[tuple[tuple[str, str, str, str], Sums]]
    recent: list[dict[str, Any]]
    unpriced: list[usage_selectors.UnpricedModel]
    choices: dict[str, list[str]] = field(default_factory=dict)


def usage_filter(
    *,
    range_key: str,
    user: str | None,
    machine: str | None,
    family: str | None,
    now: datetime | None = None,
) -> UsageFilter:
    """The preset's range in whole UTC hours (24 h: the last 24, this one included) or whole UTC
    days (7, 30, 90 d: today and the days before it). Whole hours and days are what the rollups
    hold, so the page (and the CSV link, which repeats the range) reads no raw records and no
    hourly rows for ragged edges: for a 2,000-group breakdown that is most of the cost."""
    _label, length, _step = RANGES[range_key]
    now = (now or timezone.now()).astimezone(UTC)
    grain = HOUR_MS if length <= timedelta(days=1) else DAY_MS
    now_ms = epoch_ms(now)
    ts_to = from_epoch_ms(now_ms - now_ms % grain + grain)
    return UsageFilter(
        user=user, machine=machine, model_family=family, ts_from=ts_to - length, ts_to=ts_to
    )


def usage_page(flt: UsageFilter, *, range_key: str) -> UsagePage:
    assert flt.ts_from is not None and flt.ts_to is not None
    _label, _length, step = RANGES[range_key]
    series = usage_selectors.timeseries(
        flt, from_ms=epoch_ms(flt.ts_from), to_ms=epoch_ms(flt.ts_to), step_ms=step, tz=None
    )
    breakdown = usage_selectors.breakdown(flt)
    # The totals, the leaderboards and the filter suggestions are sums of the breakdown's groups
    # (user × machine × model) in hand: the same numbers as their own reads, without the reads.
    overall = Sums()
    per: dict[str, dict[tuple, Sums]] = {by: {} for by in usage_selectors.LEADERBOARD_BY}
    for (user, machine, _model, family), item in breakdown:
        values = item.values()
        overall.add(values)
        for by, key in (("user", user), ("machine", machine), ("model_family", family)):
            per[by].setdefault((key,), Sums()).add(values)
    boards = {
        by: usage_selectors.leaderboard_of(groups, limit=BOARD_LIMIT) for by, groups in per.items()
    }
    choices = {
        by: [key for key, _sums in usage_selectors.leaderboard_of(groups, limit=CHOICES_LIMIT)]
        for by, groups in per.items()
    }
    return UsagePage(
        flt=flt,
        range_key=range_key,
        series=series,
        overall=overall,
        boards=boards,
        breakdown=breakdown,
        recent=usage_selectors.recent(flt, limit=RECENT_LIMIT),
        unpriced=usage_selectors.unpriced_models(),
        choices=choices,
    )


@dataclass(frozen=True)
class UserPage:
    detail: usage_selectors.UserDetail
    month: Sums
    series: usage_selectors.Series
    recent: list[dict[str, Any]]


def user_page(name: str, now: datetime | None = None) -> UserPage | None:
    detail = usage_selectors.user_detail(UsageFilter(user=name))
    if detail is None:
        return None
    now = now or timezone.now()
    day_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    chart_from = day_start - timedelta(days=CHART_DAYS - 1)
    return UserPage(
        detail=detail,
        month=usage_selectors.totals(UsageFilter(user=name, ts_from=day_start.replace(day=1))),
        series=usage_selectors.timeseries(
            UsageFilter(user=name),
            from_ms=epoch_ms(chart_from),
            to_ms=epoch_ms(day_start) + DAY_MS,
            step_ms=DAY_MS,
            tz=None,
        ),
        recent=usage_selectors.recent(UsageFilter(user=name), limit=RECENT_LIMIT),
    )


# --- Hosts.

HOSTS_PAGE = 100


@dataclass(frozen=True)
class HostRow:
    host: Any  # hosts.models.Host with auth_state, recent digests, latest usage
    api_calls: int
    month: Sums
    in_sync: bool | None


@dataclass(frozen=True)
class HostsPage:
    rows: list[HostRow]
    next_before: int | None
    canonical_digest: str | None
    month_start: datetime


def hosts_page(*, before: int | None, limit: int = HOSTS_PAGE) -> HostsPage:
    """A page of hosts (newest first) with this month's usage of each (by machine = FQDN): the
    host rows in four queries, the month's usage per machine in one rollup read."""
    hosts = admin_selectors.host_page(before=before, limit=limit)
    canonical = auth_selectors.canonical_current()
    digest = canonical.digest if canonical else None
    pending = host_calls_pending([host.pk for host in hosts])
    month_start = auth_selectors.month_start()
    per_machine = aggregate(UsageFilter(ts_from=month_start), ("machine",)) if hosts else {}
    rows = []
    for host in hosts:
        state = admin_selectors.host_auth_state(host)
        rows.append(
            HostRow(
                host=host,
                api_calls=host.api_calls + pending.get(host.pk, 0),
                month=per_machine.get((host.fqdn,), Sums()),
                in_sync=None if state is None or not digest else state.digest == digest,
            )
        )
    next_before = hosts[-1].pk if len(hosts) == limit and hosts else None
    return HostsPage(
        rows=rows, next_before=next_before, canonical_digest=digest, month_start=month_start
    )


@dataclass(frozen=True)
class HostPage:
    row: HostRow
    state: Any  # HostAuthState | None
    canonical: admin_selectors.CanonicalStatus | None
    codex_month: auth_selectors.TokenUsage
    usage: Sums
    per_family: list[tuple[str, Sums]]
    recent: list[dict[str, Any]]


def host_page(host_id: int) -> HostPage | None:
    host = admin_selectors.host_get(host_id=host_id)
    if host is None:
        return None
    canonical = auth_selectors.canonical_current()
    digest = canonical.digest if canonical else None
    state = admin_selectors.host_auth_state(host)
    month_start = auth_selectors.month_start()
    month = usage_selectors.totals(UsageFilter(machine=host.fqdn, ts_from=month_start))
    families = aggregate(UsageFilter(machine=host.fqdn), ("model_family",))
    per_family = sorted(
        ((key[0], item) for key, item in families.items() if item.messages),
        key=lambda pair: (-pair[1].cost_micros, pair[0]),
    )
    usage = Sums()
    for _family, item in per_family:
        usage.add(item.values())
    pending = host_calls_pending([host.pk]).get(host.pk, 0)
    return HostPage(
        row=HostRow(
            host=host,
            api_calls=host.api_calls + pending,
            month=month,
            in_sync=None if state is None or not digest else state.digest == digest,
        ),
        state=state,
        canonical=admin_selectors.canonical_status(canonical),
        codex_month=auth_selectors.host_token_usage_month(host=host),
        usage=usage,
        per_family=per_family,
        recent=usage_selectors.recent(UsageFilter(machine=host.fqdn), limit=RECENT_LIMIT),
    )


# --- Canonical auth, quota, runner.


@dataclass(frozen=True)
class AuthPage:
    canonical: admin_selectors.CanonicalStatus | None
    history: list[dict[str, Any]]
    hosts: dict[str, int]
    avg_refresh_age_seconds: float | None
    login: Any | None = None  # login_state()


def auth_page() -> AuthPage:
    return AuthPage(
        login=login_state(),
        canonical=admin_selectors.canonical_status(),
        history=admin_selectors.canonical_history(limit=50),
        hosts=admin_selectors.host_counts(),
        avg_refresh_age_seconds=admin_selectors.average_refresh_age_seconds(),
    )


def quota_state() -> dict[str, Any]:
    """The ChatGPT quota summary `/auth` and `/admin/overview` answer (stored values only)."""
    state = fleet.fleet_state()
    canonical = auth_selectors.canonical_current()
    return chatgpt_usage_data(
        quota.quota_for_request(
            state=state.quota, canonical_digest=canonical.digest if canonical else None
        )
    )


@dataclass(frozen=True)
class RunnerStepView:
    name: str
    description: str
    enabled: bool
    row: Any  # hosts.models.RunnerStep | None (never run yet)


def runner_state(*, cycles: int = 20) -> tuple[list[RunnerStepView], list[Any]]:
    from hosts.runner import engine

    rows = {step.name: step for step in admin_selectors.runner_steps()}
    steps = [
        RunnerStepView(step.name, step.description, step.enabled, rows.get(step.name))
        for step in engine.steps()
    ]
    return steps, admin_selectors.runner_cycles(limit=cycles)


def runner_step_names() -> list[str]:
    from hosts.runner import engine

    return [step.name for step in engine.steps() if step.enabled]
