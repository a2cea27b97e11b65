"""One refresh at a time, under real concurrency (threads with their own PostgreSQL connections,
as two runner processes or two servers have): two runners started together refresh once; two
refreshes that bypass the runner's claim still refresh once (the canonical lock); a host store
arriving while a refresh is in flight waits for it, is then judged by the usual rule, and its
newer login is what the next refresh spends."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from hosts.fleetauth.refresh.services import REFRESHED, canonical_refresh
from hosts.fleetauth.selectors import canonical_auth_object
from hosts.models import CanonicalAuth, RunnerCycle
from hosts.runner.engine import ONCE, cycle_run
from tests.hosts.conftest import HOST_IP
from tests.hosts.oauth_cast import answer, login, refresh_token

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent refreshers need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

TOKEN_PATH = "/oauth/token"


def together(*jobs: Callable[[], Any]) -> list[Any]:
    """Run the jobs in threads released at the same moment; their results, in order."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(index: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def due_login(host_client):
    """A canonical login eight days old: due."""
    stored = login("Old01", last_refresh=now() - timedelta(days=8), expires=None)
    response = host_client.post("/auth", {"command": "store", "auth": stored}, format="json")
    assert response.json()["data"]["status"] == "updated"
    return stored


def posts(upstream) -> list[dict]:
    return [call for call in upstream.calls(TOKEN_PATH) if call["method"] == "POST"]


def test_two_runners_started_together_refresh_once(fake_upstream, due_login):
    fake_upstream.route(TOKEN_PATH, 200, answer("New02", expires=now() + timedelta(days=10)))
    fake_upstream.delay = 0.3  # the first refresh is still in flight when the second looks

    cycles = together(
        lambda: cycle_run(trigger=ONCE, runner="runner-a", only=["auth_refresh"]),
        lambda: cycle_run(trigger=ONCE, runner="runner-b", only=["auth_refresh"]),
    )

    outcomes = sorted(
        entry["outcome"]
        for cycle in cycles
        if isinstance(cycle, RunnerCycle)
        for entry in cycle.steps
    )
    assert outcomes == ["claimed_elsewhere", "ok"]
    assert len(posts(fake_upstream)) == 1
    assert AuditEvent.objects.filter(action="auth.refresh").count() == 1
    assert CanonicalAuth.objects.filter(source="runner").count() == 1


def test_two_refreshes_past_the_claim_still_refresh_once(fake_upstream, due_login):
    """The claim is not the only guard: the canonical lock around read-refresh-store is."""
    fake_upstream.route(TOKEN_PATH, 200, answer("New02", expires=now() + timedelta(days=10)))
    fake_upstream.delay = 0.3

    results = together(canonical_refresh, canonical_refresh)

    assert sorted(result.result for result in results) == ["not_due", REFRESHED]
    (call,) = posts(fake_upstream)
    assert json.loads(call["body"])["refresh_token"] == refresh_token("Old01")
    assert CanonicalAuth.objects.filter(source="runner").count() == 1


def test_a_host_store_during_a_refresh_waits_and_its_newer_login_wins(
    fake_upstream, due_login, host_key
):
    fake_upstream.route(TOKEN_PATH, 200, answer("New02", expires=now() + timedelta(days=10)))
    fake_upstream.delay = 1.0
    finished: dict[str, float] = {}

    def refresher():
        result = canonical_refresh()
        finished["refresh"] = time.monotonic()
        return result

    def host_store():
        deadline = time.monotonic() + 10
        while not posts(fake_upstream) and time.monotonic() < deadline:
            time.sleep(0.01)
        # This host's Codex refreshed by itself (a moment later than the server's refresh).
        own = login("Host03", last_refresh=now(), expires=now() + timedelta(minutes=30))
        client = APIClient(REMOTE_ADDR=HOST_IP)
        client.credentials(HTTP_X_API_KEY=host_key)
        response = client.post("/auth", {"command": "store", "auth": own}, format="json")
        finished["store"] = time.monotonic()
        return response.json()["data"]["status"]

    refreshed, stored = together(refresher, host_store)

    assert refreshed.result == REFRESHED
    assert stored == "updated"  # newer than the server's refresh: the host wins
    assert finished["store"] >= finished["refresh"]  # it waited for the refresh to commit
    current = CanonicalAuth.objects.get(is_current=True)
    assert current.source == "host"
    assert [row.source for row in CanonicalAuth.objects.order_by("id")] == [
        "host",
        "runner",
        "host",
    ]

    # The host's login expires within the hour: the next refresh spends its token.
    fake_upstream.delay = 0
    fake_upstream.route(TOKEN_PATH, 200, answer("New04", expires=now() + timedelta(days=10)))
    assert canonical_refresh().result == REFRESHED
    assert json.loads(posts(fake_upstream)[-1]["body"])["refresh_token"] == refresh_token("Host03")
    current = CanonicalAuth.objects.get(is_current=True)
    assert canonical_auth_object(current)["tokens"]["refresh_token"] == refresh_token("New04")
