"""No request waits on an upstream: a steady-state `/auth` retrieve is a handful of queries and
answers from what the runner stored, in well under 100 ms even with every upstream hanging."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache

from hosts.models import RunnerStep
from tests.hosts.test_auth_retrieve import as_stored, sha256_of

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CANONICAL_AT = "2026-11-20T10:00:00.123456789Z"
USAGE_PATH = "/backend-api/wham/usage"
RELEASES = "/repos/openai/codex/releases/latest"
PRO = {
    "plan_type": "pro",
    "rate_limit": {
        "allowed": True,
        "limit_reached": False,
        "primary_window": {"used_percent": 42, "limit_window_seconds": 18000, "reset_at": 1},
    },
}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def steady(clock, fake_upstream, host_client, codex_auth, run_runner) -> dict:
    """A canonical login, the runner's values stored, and one retrieve behind us."""
    fake_upstream.route(USAGE_PATH, 200, PRO)
    fake_upstream.route(RELEASES, 200, {"tag_name": "rust-v0.63.0"})
    auth = codex_auth(CANONICAL_AT)
    host_client.post("/auth", {"command": "store", "auth": auth}, format="json")
    run_runner()
    body = {
        "command": "retrieve",
        "last_refresh": CANONICAL_AT,
        "digest": sha256_of(as_stored(auth)),
    }
    first = host_client.post("/auth", body, format="json")
    assert first.json()["data"]["status"] == "valid"
    return body


@pytest.fixture
def hanging_upstream(settings):
    """A listener that accepts connections and never answers: a call to it would hang for
    UPSTREAM_TIMEOUT_SECONDS."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.CHATGPT_BASE_URL = f"{url}/backend-api"
    settings.CODEX_RELEASES_URL = f"{url}{RELEASES}"
    settings.PRICING_URL = f"{url}/prices.json"
    settings.UPSTREAM_TIMEOUT_SECONDS = 5
    try:
        yield url
    finally:
        listener.close()


def test_a_steady_state_retrieve_makes_at_most_six_queries(
    steady, host_client, django_assert_max_num_queries
):
    with django_assert_max_num_queries(6):
        response = host_client.post("/auth", steady, format="json")

    data = response.json()["data"]
    assert data["status"] == "valid"
    assert data["chatgpt_usage"]["status"] == "ok"
    assert data["versions"]["client_version"] == "0.63.0"


def test_a_retrieve_that_finds_values_due_still_stays_small(
    steady, clock, host_client, django_assert_max_num_queries
):
    clock.shift(timedelta(hours=4))  # quota and client version both due
    host_client.post("/auth", steady, format="json")  # records the host's state (once a minute)
    RunnerStep.objects.update(requested_at=None)
    cache.clear()  # as on a worker that has not asked yet

    # The steady five, plus one conditional UPDATE per due value asking the runner for it.
    with django_assert_max_num_queries(7):
        response = host_client.post("/auth", steady, format="json")

    data = response.json()["data"]
    assert data["chatgpt_usage"]["status"] == "stale"
    assert data["versions"]["client_version_source"] == "cache_stale"
    requested = RunnerStep.objects.filter(requested_at__isnull=False).values_list("name", flat=True)
    assert sorted(requested) == ["client_version", "quota"]


def test_auth_answers_in_under_100_ms_from_stored_values_with_the_upstreams_down(
    steady, clock, host_client, hanging_upstream
):
    clock.shift(timedelta(hours=4))  # everything is due, and every upstream would hang
    host_client.post("/auth", steady, format="json")  # warm the process (imports, baking)

    started = time.perf_counter()
    response = host_client.post("/auth", steady, format="json")
    elapsed = time.perf_counter() - started

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["chatgpt_usage"]["primary_window"]["used_percent"] == 42
    assert data["chatgpt_usage"]["status"] == "stale"
    assert data["versions"]["client_version"] == "0.63.0"
    assert elapsed < 0.1, f"/auth took {elapsed * 1000:.1f} ms"


def test_versions_and_overview_answer_at_once_with_the_upstreams_down(
    steady, clock, client_for, admin_token, hanging_upstream
):
    from rest_framework.test import APIClient

    clock.shift(timedelta(hours=4))
    admin = client_for(admin_token)
    admin.get("/admin/overview")

    started = time.perf_counter()
    versions = APIClient().get("/versions")
    overview = admin.get("/admin/overview")
    elapsed = time.perf_counter() - started

    assert versions.json()["data"]["client_version"] == "0.63.0"
    assert overview.json()["data"]["chatgpt_usage"]["status"] == "stale"
    assert elapsed < 0.5, f"/versions + /admin/overview took {elapsed * 1000:.1f} ms"
