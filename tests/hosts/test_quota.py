"""ChatGPT quota from `/wham/usage` (a real local fake server): the runner fetches (headers, the
5-minute cooldown per login, window classification by length, failures beside the last good
numbers, 401 marks the login invalid); `/auth` answers what was stored, with its `status` and
`next_eligible_at`, and never calls the upstream itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.cache import cache

from hosts.models import CanonicalAuth, ChatGptUsageSnapshot, RunnerStep
from tests.hosts.conftest import ACCESS_TOKEN, ACCOUNT_ID

pytestmark = pytest.mark.django_db

USAGE_PATH = "/backend-api/wham/usage"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RETRIEVE = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}
NOW_TS = int(NOW.timestamp())

PRO: dict[str, Any] = {
    "plan_type": "pro",
    "rate_limit": {
        "allowed": True,
        "limit_reached": False,
        "primary_window": {
            "used_percent": 42,
            "limit_window_seconds": 18000,
            "reset_after_seconds": 3600,
            "reset_at": NOW_TS + 3600,
        },
        "secondary_window": {
            "used_percent": 17.5,
            "limit_window_seconds": 604800,
            "reset_after_seconds": 86400,
            "reset_at": NOW_TS + 86400,
        },
    },
    "credits": {"has_credits": False, "unlimited": False, "balance": "0"},
}
FREE = {
    "plan_type": "free",
    "rate_limit": {
        "allowed": True,
        "limit_reached": False,
        "primary_window": {
            "used_percent": 80,
            "limit_window_seconds": 604800,
            "reset_after_seconds": 200000,
            "reset_at": NOW_TS + 200000,
        },
        "secondary_window": None,
    },
}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def upstream(fake_upstream):
    fake_upstream.route("/repos/openai/codex/releases/latest", 200, {"tag_name": "rust-v0.63.0"})
    fake_upstream.route(USAGE_PATH, 200, PRO)
    return fake_upstream


def store(client, auth: dict):
    return client.post("/auth", {"command": "store", "auth": auth}, format="json")


def store_and_run(client, auth: dict, run_runner):
    store(client, auth)
    run_runner()
    return retrieve(client)


def retrieve(client):
    return client.post("/auth", RETRIEVE, format="json")


def fetches(upstream) -> int:
    return len(upstream.calls(USAGE_PATH))


def test_it_reports_nothing_known_without_a_canonical_login(clock, upstream, host_client):
    usage = retrieve(host_client).json()["data"]["chatgpt_usage"]

    assert usage["available"] is False
    assert usage["primary_window"] is None and usage["secondary_window"] is None
    assert fetches(upstream) == 0


def test_it_fetches_with_the_canonical_token_and_account(
    clock, upstream, host_client, codex_auth, run_runner
):
    usage = store_and_run(host_client, codex_auth(), run_runner).json()["data"]["chatgpt_usage"]

    call = upstream.calls(USAGE_PATH)[0]
    assert call["headers"]["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert call["headers"]["ChatGPT-Account-Id"] == ACCOUNT_ID
    assert usage["available"] is True
    assert usage["plan_type"] == "pro"
    assert usage["allowed"] is True and usage["limit_reached"] is False
    assert usage["credits"] == PRO["credits"]
    assert usage["primary_window"] == {
        "kind": "five_hour",
        "used_percent": 42,
        "limit_seconds": 18000,
        "reset_after_seconds": 3600,
        "reset_at": NOW_TS + 3600,
        "reset_at_iso": "2026-11-20T13:00:00Z",
    }
    assert usage["secondary_window"]["kind"] == "weekly"
    assert usage["secondary_window"]["used_percent"] == 17.5
    assert usage["secondary_window"]["limit_seconds"] == 604800
    assert usage["fetched_at"] == "2026-11-20T12:00:00Z"
    assert usage["last_error"] is None and usage["stale"] is False
    assert usage["status"] == "ok"
    assert usage["next_eligible_at"] == "2026-11-20T12:05:00Z"


def test_it_fetches_at_most_once_per_five_minutes_per_login(
    clock, upstream, host_client, codex_auth, run_runner
):
    store(host_client, codex_auth())
    run_runner()
    clock.shift(timedelta(minutes=4, seconds=59))
    run_runner()
    run_runner(force=True)
    assert fetches(upstream) == 1

    clock.shift(timedelta(seconds=2))
    run_runner()
    usage = retrieve(host_client).json()["data"]["chatgpt_usage"]

    assert fetches(upstream) == 2
    assert usage["fetched_at"] == "2026-11-20T12:05:01Z"


def test_it_fetches_at_once_for_a_new_login(clock, upstream, host_client, codex_auth, run_runner):
    store(host_client, codex_auth("2026-11-20T10:00:00Z"))
    run_runner()
    clock.shift(timedelta(minutes=1))

    store(
        host_client, codex_auth("2026-11-20T11:00:00Z", access_token="eyJ" + "q" * 30 + "NewLogin9")
    )
    run_runner()

    assert fetches(upstream) == 2
    assert upstream.calls(USAGE_PATH)[1]["headers"]["Authorization"].endswith("NewLogin9")


def test_it_classifies_a_free_plan_weekly_primary_window_as_weekly(
    clock, upstream, host_client, codex_auth, run_runner
):
    upstream.route(USAGE_PATH, 200, FREE)

    usage = store_and_run(host_client, codex_auth(), run_runner).json()["data"]["chatgpt_usage"]

    assert usage["plan_type"] == "free"
    assert usage["primary_window"] is None
    assert usage["secondary_window"] == {
        "kind": "weekly",
        "used_percent": 80,
        "limit_seconds": 604800,
        "reset_after_seconds": 200000,
        "reset_at": NOW_TS + 200000,
        "reset_at_iso": "2026-11-22T19:33:20Z",
    }


def test_it_classifies_windows_by_length_not_position(
    clock, upstream, host_client, codex_auth, run_runner
):
    swapped = {
        "plan_type": "plus",
        "rate_limit": {
            "primary_window": PRO["rate_limit"]["secondary_window"],
            "secondary_window": PRO["rate_limit"]["primary_window"],
        },
    }
    upstream.route(USAGE_PATH, 200, swapped)

    usage = store_and_run(host_client, codex_auth(), run_runner).json()["data"]["chatgpt_usage"]

    assert usage["primary_window"]["limit_seconds"] == 18000
    assert usage["primary_window"]["used_percent"] == 42
    assert usage["secondary_window"]["limit_seconds"] == 604800


def test_it_counts_the_reset_down_from_the_time_of_the_answer(
    clock, upstream, host_client, codex_auth, run_runner
):
    store(host_client, codex_auth())
    run_runner()
    clock.shift(timedelta(minutes=3))

    usage = retrieve(host_client).json()["data"]["chatgpt_usage"]

    assert fetches(upstream) == 1
    assert usage["primary_window"]["reset_after_seconds"] == 3600 - 180
    assert usage["primary_window"]["reset_at"] == NOW_TS + 3600


def test_it_keeps_the_last_good_numbers_beside_a_failure(
    clock, upstream, host_client, codex_auth, run_runner
):
    store(host_client, codex_auth())
    run_runner()
    upstream.route(USAGE_PATH, 500, {"detail": "upstream broke"})
    clock.shift(timedelta(minutes=6))
    run_runner()

    response = retrieve(host_client)

    assert response.status_code == 200
    usage = response.json()["data"]["chatgpt_usage"]
    assert usage["available"] is True
    assert usage["primary_window"]["used_percent"] == 42
    assert usage["fetched_at"] == "2026-11-20T12:00:00Z"
    assert usage["last_attempt_at"] == "2026-11-20T12:06:00Z"
    assert usage["last_error"] == "HTTP 500 from /wham/usage"
    assert usage["stale"] is True
    assert usage["status"] == "error"
    failed = ChatGptUsageSnapshot.objects.get(ok=False)
    assert failed.error == "HTTP 500 from /wham/usage"
    assert ChatGptUsageSnapshot.objects.filter(ok=True).count() == 1


def test_it_waits_out_the_cooldown_after_a_failure_too(
    clock, upstream, host_client, codex_auth, run_runner
):
    upstream.route(USAGE_PATH, 503, {"detail": "busy"})
    store(host_client, codex_auth())
    run_runner()
    upstream.route(USAGE_PATH, 200, PRO)
    clock.shift(timedelta(minutes=2))
    run_runner()

    usage = retrieve(host_client).json()["data"]["chatgpt_usage"]

    assert fetches(upstream) == 1
    assert usage["available"] is False
    assert usage["last_error"] == "HTTP 503 from /wham/usage"
    assert usage["status"] == "error"
    assert usage["next_eligible_at"] == "2026-11-20T12:05:00Z"


@pytest.mark.parametrize("body", [b"<html>login</html>", b"[1, 2]"])
def test_it_never_fails_auth_on_a_garbled_upstream(
    clock, upstream, host_client, codex_auth, body, run_runner
):
    upstream.route(USAGE_PATH, 200, body)

    response = store_and_run(host_client, codex_auth(), run_runner)

    assert response.status_code == 200
    usage = response.json()["data"]["chatgpt_usage"]
    assert usage["available"] is False
    assert "not" in usage["last_error"]


def test_it_never_fails_auth_on_an_unreachable_upstream(clock, host_client, codex_auth, run_runner):
    # No fake server: the autouse fixture points CHATGPT_BASE_URL at a closed port.
    response = store_and_run(host_client, codex_auth(), run_runner)

    assert response.status_code == 200
    usage = response.json()["data"]["chatgpt_usage"]
    assert usage["available"] is False
    assert usage["last_error"].startswith("request failed")


def test_it_records_a_login_without_chatgpt_tokens_as_a_failure(
    clock, upstream, host_client, run_runner
):
    auth = {
        "OPENAI_API_KEY": "sk-proj-4hT9qW2eR7yU1iO3pA8s",
        "last_refresh": "2026-11-20T10:00:00Z",
    }

    usage = store_and_run(host_client, auth, run_runner).json()["data"]["chatgpt_usage"]

    assert fetches(upstream) == 0
    assert usage["available"] is False
    assert "access_token" in usage["last_error"]


def test_it_never_stores_the_token_in_a_snapshot(
    clock, upstream, host_client, codex_auth, run_runner
):
    store_and_run(host_client, codex_auth(), run_runner)

    rows = list(ChatGptUsageSnapshot.objects.values())
    assert rows and ACCESS_TOKEN not in str(rows)


def test_admin_usage_respects_the_cooldown_unless_forced(
    clock, upstream, host_client, codex_auth, client_for, admin_token, run_runner
):
    store(host_client, codex_auth())
    run_runner()
    admin = client_for(admin_token)

    plain = admin.get("/admin/chatgpt/usage")
    forced = admin.get("/admin/chatgpt/usage?force=1")
    refreshed = admin.post("/admin/chatgpt/usage/refresh")

    assert plain.status_code == forced.status_code == refreshed.status_code == 200
    assert plain.json()["data"]["chatgpt_usage"]["primary_window"]["used_percent"] == 42
    assert refreshed.json()["data"]["chatgpt_usage"]["available"] is True
    assert fetches(upstream) == 3  # the runner's, then the forced GET and the refresh


def test_admin_usage_needs_admin_access(host_client, client_for, read_token):
    assert client_for(read_token).get("/admin/chatgpt/usage").status_code == 403
    assert host_client.post("/admin/chatgpt/usage/refresh").status_code == 403


def test_auth_itself_never_calls_the_upstream(clock, upstream, host_client, codex_auth):
    stored = store(host_client, codex_auth()).json()["data"]["chatgpt_usage"]
    retrieved = retrieve(host_client).json()["data"]["chatgpt_usage"]

    assert fetches(upstream) == 0
    # A new login: nothing known yet, eligible at once, and the runner has been asked.
    assert stored["status"] == retrieved["status"] == "unavailable"
    assert stored["next_eligible_at"] == "2026-11-20T12:00:00Z"
    assert RunnerStep.objects.get(name="quota").requested_at is not None


def test_it_answers_stale_numbers_and_asks_the_runner_once_the_cooldown_passed(
    clock, upstream, host_client, codex_auth, run_runner
):
    store(host_client, codex_auth())
    run_runner()
    assert RunnerStep.objects.get(name="quota").requested_at is None
    clock.shift(timedelta(minutes=5, seconds=1))
    cache.clear()  # the store's 30 s "already asked" key; Redis keeps it in real time

    usage = retrieve(host_client).json()["data"]["chatgpt_usage"]

    assert usage["status"] == "stale" and usage["stale"] is True
    assert usage["primary_window"]["used_percent"] == 42
    assert fetches(upstream) == 1
    assert RunnerStep.objects.get(name="quota").requested_at is not None
    run_runner()
    assert retrieve(host_client).json()["data"]["chatgpt_usage"]["status"] == "ok"
    assert fetches(upstream) == 2


def test_a_401_marks_the_canonical_login_invalid_until_a_good_answer(
    clock, upstream, host_client, codex_auth, run_runner
):
    upstream.route(USAGE_PATH, 401, {"detail": "token expired"})
    store(host_client, codex_auth())
    cycle = run_runner()

    canonical = CanonicalAuth.objects.get(is_current=True)
    assert canonical.invalid_at == NOW
    assert canonical.check_error == "HTTP 401 from /wham/usage"
    validate = next(entry for entry in cycle.steps if entry["step"] == "quota")
    assert validate["outcome"] == "failed" and "invalid" in validate["detail"]

    upstream.route(USAGE_PATH, 200, PRO)
    clock.shift(timedelta(minutes=6))
    run_runner()
    canonical.refresh_from_db()
    assert canonical.invalid_at is None and canonical.check_error == ""


def test_a_server_error_does_not_mark_the_login_invalid(
    clock, upstream, host_client, codex_auth, run_runner
):
    upstream.route(USAGE_PATH, 502, {"detail": "bad gateway"})
    store(host_client, codex_auth())
    run_runner()

    canonical = CanonicalAuth.objects.get(is_current=True)
    assert canonical.invalid_at is None
    assert canonical.check_error == "HTTP 502 from /wham/usage"
