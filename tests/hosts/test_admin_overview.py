"""`GET /admin/overview`, `/admin/logs`, `/admin/usage`, `/admin/tokens`: every figure equals a
sum computed here from the stored rows; costs are the stored per-record costs of every model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.models import AuditEvent
from accounts.services import audit_record
from hosts.models import HostAuthState
from usage.models import UsageRecord
from usage.records import NewRecord
from usage.services.ingest import records_insert

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TODAY = NOW.replace(hour=0)
MONTH = NOW.replace(day=1, hour=0)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def admin(client_for, admin_token):
    return client_for(admin_token)


@pytest.fixture
def records(host):
    """Records of several models (Claude and Codex), today, earlier this month and last month."""
    rows = [
        (
            "a1",
            NOW - timedelta(hours=1),
            "claude-opus-4-6",
            "claude",
            None,
            1200,
            300,
            5000,
            800,
            0,
        ),
        ("a2", NOW - timedelta(hours=2), "claude-sonnet-4-6", "claude", None, 400, 0, 900, 150, 0),
        (
            "c1",
            NOW - timedelta(minutes=5),
            "gpt-5.1-codex",
            "codex",
            host.pk,
            2000,
            0,
            8000,
            700,
            250,
        ),
        ("c2", MONTH + timedelta(days=3), "gpt-5.1-codex", "codex", host.pk, 900, 0, 100, 400, 90),
        ("a3", MONTH + timedelta(days=2), "claude-haiku-4-5", "claude", None, 50, 10, 0, 20, 0),
        ("old", MONTH - timedelta(days=2), "claude-opus-4-6", "claude", None, 7000, 0, 0, 3000, 0),
        ("x1", NOW - timedelta(hours=3), "mystery-model", "claude", None, 10, 0, 0, 5, 0),
    ]
    records_insert(
        records=[
            NewRecord(
                message_id=mid,
                source=source,
                user="alice",
                machine="build-01" if host_id else "alice-mbp",
                model=model,
                ts=ts,
                input=inp,
                cache_creation=cc,
                cache_read=cr,
                output=out,
                reasoning=reasoning,
                host_id=host_id,
            )
            for mid, ts, model, source, host_id, inp, cc, cr, out, reasoning in rows
        ]
    )
    assert UsageRecord.objects.filter(cost_micros__gt=0).values("model").distinct().count() >= 4


def sums(rows) -> dict:
    rows = list(rows)
    return {
        "total": sum(r.input + r.cache_creation + r.cache_read + r.output for r in rows),
        "input": sum(r.input for r in rows),
        "cached": sum(r.cache_read for r in rows),
        "cache_creation": sum(r.cache_creation for r in rows),
        "output": sum(r.output for r in rows),
        "reasoning": sum(r.reasoning for r in rows),
        "messages": len(rows),
        "cost_usd": sum(r.cost_micros for r in rows) / 10**6,
    }


def test_overview_token_and_cost_figures_equal_sums_of_the_stored_rows(admin, records):
    data = admin.get("/admin/overview").json()["data"]

    everything = UsageRecord.objects.all()
    assert data["token_totals"] == sums(everything)
    assert data["tokens_month"] == sums(everything.filter(ts__gte=MONTH))
    assert data["tokens_today"] == sums(everything.filter(ts__gte=TODAY))
    cost = data["pricing_month_cost"]
    month_micros = sum(r.cost_micros for r in everything.filter(ts__gte=MONTH))
    assert cost["month_to_date_usd"] == month_micros / 10**6
    assert cost["today_usd"] == sum(r.cost_micros for r in everything.filter(ts__gte=TODAY)) / 10**6
    assert cost["month_start"] == "2026-11-01T00:00:00Z"
    per_family: dict[str, int] = {}
    for row in everything.filter(ts__gte=MONTH):
        per_family[row.model_family] = per_family.get(row.model_family, 0) + row.cost_micros
    assert cost["by_family"] == {family: micros / 10**6 for family, micros in per_family.items()}
    assert cost["by_family"]["unknown"] == 0  # a model without a price costs nothing, visibly


def test_overview_lists_the_prices_in_effect_for_every_model(admin):
    pricing = admin.get("/admin/overview").json()["data"]["pricing"]

    models = {row["model"]: row for row in pricing}
    assert {"claude-opus-4-6", "claude-sonnet-4-6", "gpt-5.1-codex"} <= set(models)
    assert models["claude-sonnet-4-6"]["input"] == 3.0
    assert models["claude-sonnet-4-6"]["output"] == 15.0


def test_overview_fleet_figures(admin, host, host_client, codex_auth, client_for, read_token):
    host_client.post(
        "/auth", {"command": "store", "auth": codex_auth("2026-11-20T10:00:00Z")}, format="json"
    )
    admin.post("/admin/hosts/register", {"fqdn": "new-02"}, format="json")
    other = admin.post("/admin/hosts/register", {"fqdn": "new-03"}, format="json").json()
    admin.post(
        f"/admin/hosts/{other['data']['host']['id']}/status", {"status": "disabled"}, format="json"
    )
    HostAuthState.objects.create(
        host_id=other["data"]["host"]["id"],
        last_refresh="2026-11-20T06:00:00Z",
        last_refresh_ns=int(datetime(2026, 11, 20, 6, tzinfo=UTC).timestamp()) * 10**9,
    )

    data = admin.get("/admin/overview").json()["data"]

    assert data["hosts"] == {"total": 3, "active": 2, "disabled": 1}
    # build-01 holds a login refreshed 2 h ago, new-03 one 6 h ago: 4 h on average.
    assert data["avg_refresh_age_seconds"] == 4 * 3600
    latest = AuditEvent.objects.order_by("-id").first()
    assert latest is not None
    assert data["latest_log_at"] == latest.ts.isoformat().replace("+00:00", "Z")
    assert data["canonical_auth"]["digest"] and data["canonical_auth"]["valid"] is None
    assert data["chatgpt_usage"]["status"] == "unavailable"
    assert data["versions"]["wrapper_url"] == "/wrapper/download"
    assert data["api_disabled"] is False
    assert data["mtls"]["access"] == "token" and data["mtls"]["present"] is False
    assert data["runner"] == {"last_cycle_at": None, "last_outcome": None}


def test_logs_newest_first_with_paging(admin):
    for index in range(5):
        audit_record(action="token.issue", actor=f"test:{index}")
    ids = list(AuditEvent.objects.order_by("-id").values_list("id", flat=True))

    first = admin.get("/admin/logs?limit=2").json()["data"]
    rest = admin.get(f"/admin/logs?limit=1000&before={first['next_before']}").json()["data"]

    assert [entry["id"] for entry in first["entries"]] == ids[:2]
    assert [entry["id"] for entry in rest["entries"]] == ids[2:]
    assert rest["next_before"] is None
    assert set(first["entries"][0]) == {"id", "ts", "action", "actor", "ip", "meta"}


def test_usage_rows_carry_host_and_reasoning_newest_first(admin, records, host):
    data = admin.get("/admin/usage?limit=3").json()["data"]

    ids = list(UsageRecord.objects.order_by("-id").values_list("id", flat=True))
    assert [row["id"] for row in data["usage"]] == ids[:3]
    assert data["next_before"] == ids[2]
    codex = next(row for row in data["usage"] if row["model"] == "gpt-5.1-codex")
    assert codex["host"] == {"id": host.pk, "fqdn": "build-01"}
    stored = UsageRecord.objects.get(id=codex["id"])
    assert codex["reasoning"] == stored.reasoning and codex["cached"] == stored.cache_read
    assert codex["cost_usd"] == stored.cost_micros / 10**6
    claude = admin.get(f"/admin/usage?before={ids[-2]}").json()["data"]["usage"]
    assert [row["id"] for row in claude] == ids[-1:] and claude[0]["host"] is None


def test_tokens_aggregate_per_machine_and_model(admin, records, host):
    data = admin.get("/admin/tokens").json()["data"]

    expected: dict[tuple, list] = {}
    for row in UsageRecord.objects.all():
        expected.setdefault((row.machine, row.model), []).append(row)
    got = {(row["machine"], row["model"]): row for row in data["tokens"]}
    assert set(got) == set(expected) and data["groups"] == len(expected)
    for key, rows in expected.items():
        figures = {name: got[key][name] for name in sums(rows)}
        assert figures == sums(rows), key
    assert got[("build-01", "gpt-5.1-codex")]["host_id"] == host.pk
    assert got[("alice-mbp", "claude-opus-4-6")]["host_id"] is None
    totals = [row["total"] for row in data["tokens"]]
    assert totals == sorted(totals, reverse=True)
    assert len(admin.get("/admin/tokens?limit=2").json()["data"]["tokens"]) == 2
