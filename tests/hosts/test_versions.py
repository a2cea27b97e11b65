"""`GET /versions` and the `versions` block of `/auth`: the latest Codex release from a local fake
GitHub, fetched by the runner's `client_version` step, cached 3 hours, stale on failure with a
5-minute back-off; requests answer what was stored and never call GitHub themselves."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from rest_framework.test import APIClient

from hosts.models import ClientVersionCache, RunnerStep
from hosts.wrapper import bake

pytestmark = pytest.mark.django_db

RELEASES = "/repos/openai/codex/releases/latest"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TEMPLATE = Path(bake.__file__).with_name("cdx.template")


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def github(fake_upstream):
    fake_upstream.route(RELEASES, 200, {"tag_name": "rust-v0.63.0", "name": "0.63.0"})
    return fake_upstream


def versions() -> dict:
    response = APIClient().get("/versions")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    return response.json()["data"]


def releases_calls(github) -> int:
    return len(github.calls(RELEASES))


def test_it_never_calls_github_itself_and_asks_the_runner(clock, github):
    first, second = versions(), versions()

    assert releases_calls(github) == 0
    assert first["client_version"] is None and second["client_version_source"] == "unknown"
    assert RunnerStep.objects.get(name="client_version").requested_at == NOW


def test_it_answers_the_latest_release_without_a_key(clock, github, run_runner):
    run_runner()
    data = versions()

    assert data == {
        "client_version": "0.63.0",
        "client_version_checked_at": "2026-11-20T12:00:00Z",
        "client_version_source": "cache",
        "wrapper_version": bake.WRAPPER_VERSION,
        "wrapper_template_sha256": hashlib.sha256(TEMPLATE.read_bytes()).hexdigest(),
        "wrapper_url": "/wrapper/download",
    }
    assert github.calls(RELEASES)[0]["headers"]["Accept"] == "application/vnd.github+json"


@pytest.mark.parametrize(
    "tag, version",
    [("rust-v0.63.0", "0.63.0"), ("v0.64.1", "0.64.1"), ("0.65.0-alpha.2", "0.65.0-alpha.2")],
)
def test_it_strips_the_tag_prefix(clock, github, tag, version, run_runner):
    github.route(RELEASES, 200, {"tag_name": tag})
    run_runner()

    assert versions()["client_version"] == version


def test_it_serves_the_cache_for_three_hours(clock, github, run_runner):
    run_runner()
    clock.shift(timedelta(hours=2, minutes=59))
    run_runner()

    cached = versions()

    assert releases_calls(github) == 1
    assert cached["client_version_source"] == "cache"
    assert cached["client_version_checked_at"] == "2026-11-20T12:00:00Z"


def test_it_asks_again_after_three_hours(clock, github, run_runner):
    run_runner()
    github.route(RELEASES, 200, {"tag_name": "rust-v0.64.0"})
    clock.shift(timedelta(hours=3))

    due = versions()
    run_runner()
    fresh = versions()

    assert (due["client_version"], due["client_version_source"]) == ("0.63.0", "cache_stale")
    assert releases_calls(github) == 2
    assert fresh["client_version"] == "0.64.0"
    assert fresh["client_version_source"] == "cache"
    assert fresh["client_version_checked_at"] == "2026-11-20T15:00:00Z"


def test_it_serves_the_stale_value_on_failure_and_backs_off_five_minutes(clock, github, run_runner):
    run_runner()
    github.route(RELEASES, 502, {"message": "Bad gateway"})
    clock.shift(timedelta(hours=4))
    run_runner()

    stale = versions()

    assert releases_calls(github) == 2
    assert stale["client_version"] == "0.63.0"
    assert stale["client_version_source"] == "cache_stale"
    assert stale["client_version_checked_at"] == "2026-11-20T12:00:00Z"
    row = ClientVersionCache.objects.get(key="codex")
    assert "HTTP 502" in row.last_error
    assert row.next_attempt_at == NOW + timedelta(hours=4, minutes=5)

    clock.shift(timedelta(minutes=4, seconds=59))
    assert versions()["client_version_source"] == "cache_stale"
    run_runner()
    assert releases_calls(github) == 2  # backing off

    github.route(RELEASES, 200, {"tag_name": "rust-v0.64.0"})
    clock.shift(timedelta(seconds=1))
    run_runner()
    recovered = versions()
    assert releases_calls(github) == 3
    assert (recovered["client_version"], recovered["client_version_source"]) == ("0.64.0", "cache")
    row.refresh_from_db()
    assert row.last_error == "" and row.next_attempt_at is None


def test_it_answers_unknown_when_it_never_got_a_version(clock, github, run_runner):
    github.route(RELEASES, 404, {"message": "Not Found"})

    run_runner()
    first = versions()
    run_runner()
    second = versions()

    assert first["client_version"] is None
    assert first["client_version_source"] == "unknown"
    assert first["client_version_checked_at"] is None
    assert second["client_version_source"] == "unknown"
    assert releases_calls(github) == 1


@pytest.mark.parametrize("body", [{"tag_name": None}, {"tag_name": "nightly"}, ["rust-v1.0.0"]])
def test_it_treats_an_unexpected_release_body_as_a_failure(clock, github, body, run_runner):
    github.route(RELEASES, 200, body)
    run_runner()

    data = versions()

    assert data["client_version_source"] == "unknown"
    assert ClientVersionCache.objects.get(key="codex").last_error


def test_it_serves_stale_when_github_is_unreachable(clock, github, settings, run_runner):
    run_runner()
    settings.CODEX_RELEASES_URL = "http://127.0.0.1:9/releases/latest"
    clock.shift(timedelta(hours=5))
    run_runner()

    data = versions()

    assert (data["client_version"], data["client_version_source"]) == ("0.63.0", "cache_stale")


def test_admin_check_forces_a_refresh_through_cache_and_back_off(
    clock, github, client_for, admin_token, run_runner
):
    run_runner()
    github.route(RELEASES, 200, {"tag_name": "rust-v0.70.0"})

    response = client_for(admin_token).post("/admin/versions/check")

    assert response.status_code == 200
    assert response.json()["data"]["client_version"] == "0.70.0"
    assert response.json()["data"]["client_version_source"] == "github"
    assert releases_calls(github) == 2
    assert versions()["client_version"] == "0.70.0"


def test_admin_check_needs_admin_access(github, client_for, read_token, host_client):
    assert client_for(read_token).post("/admin/versions/check").status_code == 403
    assert host_client.post("/admin/versions/check").status_code == 403
    assert releases_calls(github) == 0


def test_auth_answers_carry_this_hosts_wrapper_and_reported_versions(
    clock, github, host, host_client, run_runner
):
    run_runner()
    response = host_client.post(
        "/auth",
        {
            "command": "retrieve",
            "last_refresh": "2026-11-20T10:00:00Z",
            "digest": "a" * 64,
            "client_version": "0.61.0",
            "wrapper_version": "0.0.9",
        },
        format="json",
    )

    block = response.json()["data"]["versions"]
    downloaded = host_client.get("/wrapper/download")
    assert downloaded.status_code == 200
    assert block["wrapper_sha256"] == hashlib.sha256(downloaded.content).hexdigest()
    assert block["wrapper_sha256"] != hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()
    assert block["wrapper_url"] == "/wrapper/download"
    assert block["wrapper_version"] == bake.WRAPPER_VERSION
    assert block["reported_client_version"] == "0.61.0"
    assert block["reported_wrapper_version"] == "0.0.9"
    assert block["client_version"] == "0.63.0"
    assert block["client_version_source"] == "cache"
    host.refresh_from_db()
    assert (host.client_version, host.wrapper_version) == ("0.61.0", "0.0.9")


def test_auth_answers_keep_the_last_reported_version_when_none_is_sent(github, host, host_client):
    host_client.post(
        "/auth",
        {
            "command": "retrieve",
            "last_refresh": "2026-11-20T10:00:00Z",
            "digest": "a" * 64,
            "client_version": "0.61.0",
        },
        format="json",
    )

    block = host_client.post(
        "/auth",
        {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64},
        format="json",
    ).json()["data"]["versions"]

    assert block["reported_client_version"] == "0.61.0"
