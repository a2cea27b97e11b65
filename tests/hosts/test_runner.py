"""`manage.py runner`: each step against a local fake upstream with frozen time, the claim rule,
requests for early runs, the cycle records, SIGTERM between steps, `--once` end to end, and
`GET /admin/runner` / `POST /admin/runner/run`."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command

from accounts.models import AuditEvent
from accounts.services import audit_record
from hosts.delivery.services import host_register
from hosts.models import (
    CanonicalAuth,
    ChatGptUsageSnapshot,
    ClientVersionCache,
    InstallerToken,
    RunnerCycle,
    RunnerStep,
)
from hosts.runner import engine
from usage.models import ModelPrice

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
USAGE_PATH = "/backend-api/wham/usage"
RELEASES = "/repos/openai/codex/releases/latest"
PRICES = "/prices.json"
PRO = {
    "plan_type": "pro",
    "rate_limit": {
        "primary_window": {"used_percent": 10, "limit_window_seconds": 18000, "reset_at": 1},
    },
}
PRICE_LIST = {
    "gpt-9-codex": {
        "litellm_provider": "openai",
        "mode": "chat",
        "input_cost_per_token": 2e-06,
        "output_cost_per_token": 1.6e-05,
        "cache_read_input_token_cost": 2e-07,
    }
}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def upstream(fake_upstream, settings):
    fake_upstream.route(USAGE_PATH, 200, PRO)
    fake_upstream.route(RELEASES, 200, {"tag_name": "rust-v0.63.0"})
    fake_upstream.route(PRICES, 200, PRICE_LIST)
    settings.PRICING_URL = f"{fake_upstream.url}{PRICES}"
    return fake_upstream


@pytest.fixture
def login(host_client, codex_auth):
    response = host_client.post("/auth", {"command": "store", "auth": codex_auth()}, format="json")
    assert response.json()["data"]["status"] == "updated"


def outcomes(cycle) -> dict[str, str]:
    return {entry["step"]: entry["outcome"] for entry in cycle.steps}


def calls(upstream, path: str) -> int:
    return len(upstream.calls(path))


def test_a_first_cycle_runs_every_step_and_records_it(clock, upstream, login, run_runner):
    cycle = run_runner()

    assert outcomes(cycle) == {
        "auth_refresh": "skipped",  # a login two hours old: not due
        "quota": "ok",
        "client_version": "ok",
        "prices": "ok",
        "installers": "skipped",
        "retention": "ok",
    }
    assert (cycle.trigger, cycle.outcome) == ("once", "ok")
    assert cycle.started_at == NOW and cycle.finished_at == NOW
    assert calls(upstream, USAGE_PATH) == 1
    assert calls(upstream, RELEASES) == 1
    assert calls(upstream, PRICES) == 1
    assert ModelPrice.objects.filter(model_prefix="gpt-9-codex", source="import").exists()
    assert ClientVersionCache.objects.get(key="codex").version == "0.63.0"
    assert CanonicalAuth.objects.get(is_current=True).checked_at == NOW


def test_each_step_is_next_due_on_its_own_schedule(clock, upstream, login, run_runner):
    run_runner()
    due = {step.name: step.next_due_at - NOW for step in RunnerStep.objects.all()}

    assert due == {
        "auth_refresh": timedelta(minutes=15),  # looked at again (the login is due in 7 days)
        "quota": timedelta(minutes=5),
        "client_version": timedelta(hours=3),
        "prices": timedelta(days=1),
        "installers": timedelta(minutes=10),
        "retention": timedelta(days=1),
    }
    clock.shift(timedelta(minutes=4))
    assert outcomes(run_runner())["quota"] == "not_due"
    clock.shift(timedelta(minutes=1))
    later = outcomes(run_runner())
    assert later["quota"] == "ok" and later["client_version"] == "not_due"
    assert calls(upstream, USAGE_PATH) == 2


def test_a_loop_cycle_with_nothing_due_leaves_no_record(clock, upstream, login, run_runner):
    run_runner()
    before = RunnerCycle.objects.count()

    assert run_runner(trigger=engine.LOOP) is None
    assert RunnerCycle.objects.count() == before


def test_failed_steps_back_off_and_keep_the_last_good_values(clock, upstream, login, run_runner):
    run_runner()
    upstream.route(RELEASES, 502, {"message": "bad gateway"})
    upstream.route(PRICES, 500, {"message": "down"})
    clock.shift(timedelta(days=1))

    cycle = run_runner()

    steps = {entry["step"]: entry for entry in cycle.steps}
    assert steps["client_version"]["outcome"] == "failed"
    assert "HTTP 502" in steps["client_version"]["detail"]
    assert steps["prices"]["outcome"] == "failed"
    assert cycle.outcome == "failed"
    assert ClientVersionCache.objects.get(key="codex").version == "0.63.0"
    step = RunnerStep.objects.get(name="client_version")
    assert step.next_due_at == NOW + timedelta(days=1, minutes=5)
    assert RunnerStep.objects.get(name="prices").next_due_at == NOW + timedelta(days=1, hours=1)


def test_a_crashing_step_is_reported_and_the_others_still_run(
    clock, upstream, login, run_runner, monkeypatch
):
    from hosts.runner import steps

    def boom(now):
        raise RuntimeError("bug")

    monkeypatch.setattr(
        steps,
        "STEPS",
        [
            engine.Step("prices", "boom", boom),
            *(step for step in steps.STEPS if step.name in ("installers", "retention")),
        ],
        raising=True,
    )

    cycle = run_runner()

    assert outcomes(cycle) == {"prices": "failed", "installers": "skipped", "retention": "ok"}
    assert cycle.steps[0]["detail"] == "internal error: RuntimeError"
    assert RunnerStep.objects.get(name="prices").claimed_by == ""


def test_installer_links_expire_and_lose_their_pending_key(clock, upstream, run_runner):
    registration = host_register(fqdn="new-01", actor="test")
    old = host_register(fqdn="old-01", actor="test").installer
    InstallerToken.objects.filter(pk=old.pk).update(expires_at=NOW - timedelta(days=8))
    clock.shift(timedelta(minutes=31))  # past INSTALL_TOKEN_TTL (30 min)

    cycle = run_runner()

    assert outcomes(cycle)["installers"] == "ok"
    expired = InstallerToken.objects.get(pk=registration.installer.pk)
    assert expired.pending_key_ciphertext == ""
    assert not InstallerToken.objects.filter(pk=old.pk).exists()
    event = AuditEvent.objects.get(action="installer.expire")
    assert event.meta == {"expired": 1, "deleted": 1}


def test_retention_prunes_the_audit_log_and_old_cycles(clock, upstream, run_runner, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    old = audit_record(action="token.issue", actor="test")
    AuditEvent.objects.filter(pk=old.pk).update(ts=NOW - timedelta(days=31))
    kept = audit_record(action="token.issue", actor="test")
    stale_cycle = RunnerCycle.objects.create(
        trigger="loop", runner="x", started_at=NOW - timedelta(days=40), outcome="ok"
    )

    cycle = run_runner()

    assert outcomes(cycle)["retention"] == "ok"
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk=kept.pk).exists()
    assert not RunnerCycle.objects.filter(pk=stale_cycle.pk).exists()


def test_the_claim_is_a_conditional_update_held_by_a_lease(clock, upstream):
    now = NOW

    assert engine.step_claim("quota", runner="a", now=now) is True
    assert engine.step_claim("quota", runner="b", now=now) is False
    assert engine.step_claim("quota", runner="b", now=now, force=True) is False  # leased
    # A runner that died mid-step only holds the step until its lease ends.
    assert engine.step_claim("quota", runner="b", now=now + engine.LEASE) is True
    assert RunnerStep.objects.get(name="quota").claimed_by == "b"


def test_a_released_step_is_not_due_again_until_its_next_time(clock, upstream):
    assert engine.step_claim("prices", runner="a", now=NOW)
    result = engine.StepResult("ok", "done", NOW + timedelta(days=1))
    engine.step_release("prices", runner="a", started_at=NOW, result=result)

    assert engine.step_claim("prices", runner="b", now=NOW) is False
    assert engine.step_claim("prices", runner="b", now=NOW + timedelta(days=1)) is True


def test_a_request_during_a_run_stays_pending_for_the_next_cycle(clock, upstream):
    assert engine.step_claim("quota", runner="a", now=NOW)
    engine.step_request_now("quota", now=NOW + timedelta(seconds=1))  # a new login, mid-run
    result = engine.StepResult("ok", "", NOW + timedelta(minutes=5))
    engine.step_release("quota", runner="a", started_at=NOW, result=result)

    step = RunnerStep.objects.get(name="quota")
    assert step.requested_at == NOW + timedelta(seconds=1)
    assert engine.step_claim("quota", runner="b", now=NOW + timedelta(seconds=2)) is True


def test_it_stops_between_steps_when_told_to(clock, upstream, login, run_runner):
    seen: list[int] = []

    def should_stop() -> bool:
        seen.append(1)
        return len(seen) > 2  # two steps run, then SIGTERM arrives

    cycle = run_runner(should_stop=should_stop)

    assert cycle.outcome == "stopped"
    ran = [entry["step"] for entry in cycle.steps if entry["outcome"] in ("ok", "skipped")]
    assert ran == ["auth_refresh", "quota"]
    assert calls(upstream, PRICES) == 0
    assert not RunnerStep.objects.exclude(claimed_by="").exists()


def test_call_command_once_runs_a_cycle_end_to_end(clock, upstream, login):
    out = io.StringIO()

    call_command("runner", "--once", stdout=out)

    line = out.getvalue().strip()
    assert line.startswith("runner: once cycle ok:")
    assert "quota=ok" in line and "client_version=ok" in line and "prices=ok" in line
    assert ChatGptUsageSnapshot.objects.filter(ok=True).count() == 1
    assert RunnerCycle.objects.get().trigger == "once"
    out = io.StringIO()
    call_command("runner", "--once", stdout=out)
    assert out.getvalue().strip() == "runner: once cycle idle: nothing due"


def test_the_loop_stops_on_sigterm(clock, upstream, settings, monkeypatch):
    import signal
    import threading

    from hosts.management.commands import runner as command

    handlers: dict[int, Any] = {}
    monkeypatch.setattr(command.signal, "signal", lambda sig, fn: handlers.__setitem__(sig, fn))
    settings.RUNNER_POLL_SECONDS = 0.01
    waits: list[float] = []

    class CountingEvent(threading.Event):
        def wait(self, timeout=None):
            if timeout != settings.RUNNER_POLL_SECONDS:  # another thread's Event (the fake)
                return super().wait(timeout)
            waits.append(timeout)
            if len(waits) == 2:
                handlers[signal.SIGTERM](signal.SIGTERM, None)
            return super().wait(timeout)

    monkeypatch.setattr(command.threading, "Event", CountingEvent)
    out = io.StringIO()

    call_command("runner", stdout=out)

    assert len(waits) == 2
    assert out.getvalue().strip().endswith("stopped")
    assert RunnerCycle.objects.filter(trigger="loop").count() == 1  # the first, due cycle


def test_admin_runner_shows_steps_cycles_and_the_login_verdict(
    clock, upstream, login, run_runner, client_for, admin_token
):
    upstream.route(USAGE_PATH, 401, {"detail": "expired"})
    run_runner()

    data = client_for(admin_token).get("/admin/runner").json()["data"]

    assert data["config"]["poll_seconds"] == 5.0
    assert [step["name"] for step in data["steps"]][:3] == [
        "auth_refresh",
        "quota",
        "client_version",
    ]
    assert data["steps"][0]["enabled"] is True
    check = data["steps"][1]
    assert check["last_outcome"] == "failed" and check["runs"] == 1
    assert check["last_detail"] == "login invalid: HTTP 401 from /wham/usage"
    assert data["canonical_auth"]["valid"] is False
    assert data["canonical_auth"]["check_error"] == "HTTP 401 from /wham/usage"
    assert data["cycles"][0]["trigger"] == "once"


def test_admin_run_runs_one_cycle_answers_its_record_and_audits_it(
    clock, upstream, login, client_for, admin_token
):
    admin = client_for(admin_token)

    first = admin.post("/admin/runner/run", {}, format="json")
    again = admin.post("/admin/runner/run", {}, format="json")
    forced = admin.post("/admin/runner/run", {"steps": ["quota"]}, format="json")

    assert first.status_code == 200
    cycle = first.json()["data"]["cycle"]
    assert cycle["trigger"] == "manual" and cycle["outcome"] == "ok"
    assert {entry["step"]: entry["outcome"] for entry in cycle["steps"]}["prices"] == "ok"
    assert again.json()["data"]["cycle"]["outcome"] == "idle"
    assert [entry["step"] for entry in forced.json()["data"]["cycle"]["steps"]] == ["quota"]
    events = AuditEvent.objects.filter(action="runner.run").order_by("id")
    assert events.count() == 3
    assert events[0].actor.startswith("token:") and events[0].meta["outcome"] == "ok"


@pytest.mark.parametrize(
    "body, field",
    [({"force": "yes"}, "force"), ({"steps": ["nope"]}, "steps"), ({"steps": "quota"}, "steps")],
)
def test_admin_run_refuses_bad_input(client_for, admin_token, body, field):
    response = client_for(admin_token).post("/admin/runner/run", body, format="json")

    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert not RunnerCycle.objects.exists()
