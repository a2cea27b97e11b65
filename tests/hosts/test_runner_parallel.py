"""The claim rule under real concurrency: two runners (threads with their own PostgreSQL
connections, as two processes or servers would have) start a cycle at the same moment against a
slow upstream; every step runs in exactly one of them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, connections

from hosts.models import RunnerCycle, RunnerStep
from hosts.runner.engine import ONCE, cycle_run
from tests.hosts.oauth_cast import answer

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent runners need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

USAGE_PATH = "/backend-api/wham/usage"
RELEASES = "/repos/openai/codex/releases/latest"
PRICES = "/prices.json"
TOKEN = "/oauth/token"
RAN = ("ok", "skipped", "failed")


def test_two_runners_never_run_the_same_step_twice(
    fake_upstream, settings, host_client, codex_auth
):
    fake_upstream.route(USAGE_PATH, 200, {"plan_type": "pro", "rate_limit": {}})
    fake_upstream.route(RELEASES, 200, {"tag_name": "rust-v0.63.0"})
    fake_upstream.route(PRICES, 200, {})
    settings.PRICING_URL = f"{fake_upstream.url}{PRICES}"
    # The login is days old by the wall clock (this test does not freeze time): due for refresh.
    fake_upstream.route(TOKEN, 200, answer("New02", expires=datetime.now(UTC) + timedelta(days=10)))
    stored = host_client.post("/auth", {"command": "store", "auth": codex_auth()}, format="json")
    assert stored.json()["data"]["status"] == "updated"
    fake_upstream.delay = 0.3  # each upstream call overlaps the other runner's cycle
    barrier = threading.Barrier(2)
    cycles: dict[str, RunnerCycle] = {}
    errors: list[BaseException] = []

    def runner(name: str) -> None:
        try:
            barrier.wait(timeout=10)
            cycle = cycle_run(trigger=ONCE, runner=name)
            assert cycle is not None
            cycles[name] = cycle
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(name,)) for name in ("runner-a", "runner-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    ran_in: dict[str, list[str]] = {}
    for name, cycle in cycles.items():
        for entry in cycle.steps:
            if entry["outcome"] in RAN:
                ran_in.setdefault(entry["step"], []).append(name)
    assert sorted(ran_in) == sorted(
        ["auth_refresh", "quota", "client_version", "prices", "installers", "retention"]
    )
    assert all(len(names) == 1 for names in ran_in.values()), ran_in
    # One upstream call per step that calls one, however the two runners interleaved.
    assert len(fake_upstream.calls(USAGE_PATH)) == 1
    assert len(fake_upstream.calls(RELEASES)) == 1
    assert len(fake_upstream.calls(PRICES)) == 1
    assert len(fake_upstream.calls(TOKEN)) == 1
    assert sum(step.runs for step in RunnerStep.objects.all()) == 6
    assert not RunnerStep.objects.exclude(claimed_by="").exists()
