"""The single refresher (runner step `auth_refresh`) against a local fake OAuth token endpoint,
with frozen time: when it refreshes and when not, what the new canonical version holds and serves,
permanent and passing failures, a host's newer login, what the admin routes show, and that no
token ever reaches a log line or an audit event."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine

from accounts.models import AuditEvent
from core.hashing import sha256_hex
from hosts.fleetauth.authjson import auth_text
from hosts.fleetauth.refresh import oauth
from hosts.models import CanonicalAuth, RunnerCycle, RunnerStep
from tests.hosts.conftest import ACCOUNT_ID
from tests.hosts.oauth_cast import access_token, answer, id_token, login, refresh_token

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TOKEN_PATH = "/oauth/token"
CODEX_CLIENT_ID = "app_EMoamEEZ73f0CkXaXp7hrann"  # the public Codex client (FORMATS.md)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def store(host_client):
    def run(auth: dict[str, Any]) -> dict[str, Any]:
        response = host_client.post("/auth", {"command": "store", "auth": auth}, format="json")
        assert response.status_code == 200, response.content
        return response.json()["data"]

    return run


@pytest.fixture
def retrieve(host_client):
    def run(auth: dict[str, Any]) -> dict[str, Any]:
        body = {
            "command": "retrieve",
            "last_refresh": auth["last_refresh"],
            "digest": sha256_hex(auth_text(auth)),
        }
        response = host_client.post("/auth", body, format="json")
        assert response.status_code == 200, response.content
        return response.json()["data"]

    return run


@pytest.fixture
def refresh(run_runner):
    """One `auth_refresh` step as the runner runs it; returns its (outcome, detail)."""

    def run() -> tuple[str, str]:
        cycle = run_runner(only=["auth_refresh"])
        (entry,) = cycle.steps
        return entry["outcome"], entry["detail"]

    return run


def posts(upstream) -> list[dict]:
    return [call for call in upstream.calls(TOKEN_PATH) if call["method"] == "POST"]


def current() -> CanonicalAuth:
    return CanonicalAuth.objects.get(is_current=True)


def current_auth() -> dict[str, Any]:
    from hosts.fleetauth.selectors import canonical_auth_object

    return canonical_auth_object(current())


# --- when -------------------------------------------------------------------------------------


def test_it_refreshes_an_hour_before_the_access_token_expires_and_not_before(
    clock, fake_upstream, store, refresh, settings
):
    assert settings.AUTH_REFRESH_AHEAD == 3600
    assert settings.CODEX_OAUTH_CLIENT_ID == CODEX_CLIENT_ID
    expires = NOW + timedelta(hours=3)
    store(login("One01", last_refresh=NOW - timedelta(hours=1), expires=expires))
    fake_upstream.route(TOKEN_PATH, 200, answer("Two02", expires=NOW + timedelta(days=10)))

    assert refresh()[0] == "skipped"
    clock.move_to(expires - timedelta(seconds=3600 + 60))
    assert refresh() == (
        "skipped",
        f"not due: refresh at {(expires - timedelta(hours=1)):%Y-%m-%dT%H:%M:%SZ}",
    )
    assert posts(fake_upstream) == []

    clock.move_to(expires - timedelta(seconds=3600 - 60))
    outcome, detail = refresh()

    assert outcome == "ok"
    assert detail.startswith("refreshed (access token expires at ")
    (call,) = posts(fake_upstream)
    # Exactly Codex's request: JSON, the public client id, the refresh token, Codex's scope.
    assert call["headers"]["Content-Type"] == "application/json"
    assert json.loads(call["body"]) == {
        "client_id": CODEX_CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token("One01"),
        "scope": "openid profile email",
    }
    assert current_auth()["tokens"]["refresh_token"] == refresh_token("Two02")
    # Fresh again: the next cycles leave it alone.
    clock.shift(timedelta(hours=1))
    assert refresh()[0] == "skipped"
    assert len(posts(fake_upstream)) == 1


def test_it_refreshes_a_login_older_than_seven_days_even_without_an_expiry(
    clock, fake_upstream, store, refresh
):
    stored_at = NOW - timedelta(days=7) + timedelta(minutes=1)
    store(login("Old01", last_refresh=stored_at, expires=None))
    fake_upstream.route(TOKEN_PATH, 200, answer("New02", expires=NOW + timedelta(days=10)))

    assert refresh()[0] == "skipped"
    assert posts(fake_upstream) == []
    clock.shift(timedelta(minutes=2))

    assert refresh()[0] == "ok"
    assert len(posts(fake_upstream)) == 1
    assert current().source == "runner"


def test_a_configured_client_id_and_endpoint_are_used(
    clock, fake_upstream, store, refresh, settings
):
    settings.CODEX_OAUTH_CLIENT_ID = "app_OwnClientId0123"
    settings.CODEX_OAUTH_TOKEN_URL = f"{fake_upstream.url}/other/token"
    fake_upstream.route("/other/token", 200, answer("New02", expires=NOW + timedelta(days=10)))
    store(login("Old01", last_refresh=NOW - timedelta(days=8), expires=None))

    assert refresh()[0] == "ok"
    (call,) = fake_upstream.calls("/other/token")
    assert json.loads(call["body"])["client_id"] == "app_OwnClientId0123"


def test_an_api_key_login_has_nothing_to_refresh(clock, fake_upstream, store, refresh):
    store(
        {
            "OPENAI_API_KEY": "sk-proj-Zm9yVGhlRmxlZXRPbmx5QXBpS2V5MDE",
            "tokens": None,
            "last_refresh": "2026-11-01T00:00:00Z",
        }
    )

    assert refresh() == ("skipped", "the login has no refresh token (an API-key login)")
    assert posts(fake_upstream) == []


# --- what it stores -----------------------------------------------------------------------------


def test_the_new_version_keeps_every_other_key_in_order_and_hosts_get_its_digest(
    clock, fake_upstream, store, retrieve, refresh
):
    old = login(
        "Old01",
        last_refresh=NOW - timedelta(days=8),
        expires=NOW - timedelta(minutes=5),
        auth_mode="chatgpt",
        zz_future={"nested": [1, "two", None], "ünïcode": "ok"},
    )
    old = {"auth_mode": old.pop("auth_mode"), **old}  # an unknown key first, too
    old["tokens"]["extra_token_field"] = "kept as it was"
    stored = store(old)["auth"]  # the server appended a synthesised `auths`
    assert list(stored)[-1] == "auths"
    new_expiry = NOW + timedelta(days=10)
    fake_upstream.route(TOKEN_PATH, 200, answer("New02", expires=new_expiry))

    assert refresh()[0] == "ok"

    new = current_auth()
    assert list(new) == list(stored)
    assert list(new["tokens"]) == list(stored["tokens"])
    assert new["tokens"] == {
        **stored["tokens"],
        "id_token": id_token("New02"),
        "access_token": access_token("New02", new_expiry),
        "refresh_token": refresh_token("New02"),
    }
    assert new["auths"] == {
        "api.openai.com": {"token": access_token("New02", new_expiry), "token_type": "bearer"}
    }
    assert new["last_refresh"] == "2026-11-20T12:00:00.000000000Z"
    for key in ("auth_mode", "OPENAI_API_KEY", "zz_future"):
        assert new[key] == stored[key]
    row = current()
    assert (row.source, row.source_host_id) == ("runner", None)
    assert row.access_expires_at == new_expiry.replace(microsecond=0)
    assert row.digest == sha256_hex(auth_text(new))
    assert CanonicalAuth.objects.count() == 2  # the old version is kept, no longer current

    # Hosts receive it by its digest: the old login is outdated, the new one valid.
    outdated = retrieve(stored)
    assert outdated["status"] == "outdated"
    assert outdated["canonical_digest"] == row.digest
    assert outdated["auth"] == new and list(outdated["auth"]) == list(new)
    assert sha256_hex(auth_text(outdated["auth"])) == row.digest
    assert retrieve(new)["status"] == "valid"


def test_a_token_the_answer_leaves_out_keeps_its_old_value(clock, fake_upstream, store, refresh):
    old = login("Old01", last_refresh=NOW - timedelta(days=8), expires=None)
    store(old)
    fake_upstream.route(
        TOKEN_PATH, 200, answer("New02", expires=NOW + timedelta(days=9), id_token=True)
    )

    assert refresh()[0] == "ok"
    tokens = current_auth()["tokens"]
    assert tokens["id_token"] == old["tokens"]["id_token"]
    assert tokens["refresh_token"] == refresh_token("New02")


def test_it_is_audited_with_digests_and_times(clock, fake_upstream, store, refresh):
    store(login("Old01", last_refresh=NOW - timedelta(days=8), expires=None))
    previous = current()
    fake_upstream.route(TOKEN_PATH, 200, answer("New02", expires=NOW + timedelta(days=10)))

    refresh()

    event = AuditEvent.objects.get(action="auth.refresh")
    assert event.actor == "system:runner"
    assert event.meta == {
        "digest": current().digest,
        "last_refresh": "2026-11-20T12:00:00.000000000Z",
        "previous_digest": previous.digest,
        "previous_last_refresh": previous.last_refresh,
        "access_expires_at": "2026-11-30T12:00:00Z",
        "reason": f"last refresh {previous.last_refresh} is older than 7 days",
        "failed_attempts": 0,
    }


# --- failures -----------------------------------------------------------------------------------

PERMANENT = [
    (401, {"error": {"code": "refresh_token_reused", "message": "Already used."}}, "already used"),
    (401, {"error": {"code": "refresh_token_expired"}}, "has expired"),
    (401, {"error": "refresh_token_invalidated"}, "was revoked"),
    (400, {"error": "invalid_grant", "error_description": "Bad token."}, "invalid_grant"),
    (401, {"detail": "Unauthorized"}, "refused the refresh token (HTTP 401)"),
]


@pytest.mark.parametrize("status, body, words", PERMANENT)
def test_a_refused_refresh_token_marks_the_login_invalid_and_stops(
    clock, fake_upstream, store, refresh, client_for, admin_token, status, body, words
):
    store(login("Old01", last_refresh=NOW - timedelta(days=8), expires=None))
    fake_upstream.route(TOKEN_PATH, status, body)

    outcome, detail = refresh()

    assert outcome == "failed"
    assert words in detail and detail.endswith("; upload a fresh auth.json")
    row = current()
    assert row.refresh_failed_at == NOW and words in row.refresh_error
    # Nothing retries it: later cycles make no call.
    for _ in range(3):
        clock.shift(timedelta(hours=2))
        assert refresh()[0] == "failed"
    assert len(posts(fake_upstream)) == 1
    event = AuditEvent.objects.get(action="auth.refresh_failed")
    assert event.meta["permanent"] is True and event.meta["status"] == status

    admin = client_for(admin_token)
    overview = admin.get("/admin/overview").json()["data"]
    assert overview["canonical_auth"]["valid"] is False
    assert words in overview["canonical_auth"]["check_error"]
    assert overview["login"]["refresh_state"] == "failed"
    assert "codex login" in overview["login"]["action"]
    assert "/admin/auth/upload" in overview["login"]["action"]
    runner = admin.get("/admin/runner").json()["data"]
    assert runner["login"]["refresh_state"] == "failed"
    assert runner["steps"][0]["last_detail"].startswith("login invalid: ")


def test_a_fresh_login_after_a_refusal_is_refreshed_again(clock, fake_upstream, store, refresh):
    store(login("Old01", last_refresh=NOW - timedelta(days=8), expires=None))
    fake_upstream.route(TOKEN_PATH, 401, {"error": {"code": "refresh_token_reused"}})
    assert refresh()[0] == "failed"

    # Someone ran `codex login`; cdx stored the new login (same account, newer).
    clock.shift(timedelta(minutes=10))
    store(login("Fresh3", last_refresh=NOW, expires=NOW + timedelta(minutes=50)))
    assert RunnerStep.objects.get(name="auth_refresh").requested_at is not None
    fake_upstream.route(TOKEN_PATH, 200, answer("New04", expires=NOW + timedelta(days=10)))

    assert refresh()[0] == "ok"
    assert json.loads(posts(fake_upstream)[-1]["body"])["refresh_token"] == refresh_token("Fresh3")
    assert current().refresh_failed_at is None


def test_passing_failures_back_off_and_retry(
    clock, fake_upstream, store, refresh, client_for, admin_token
):
    store(login("Old01", last_refresh=NOW - timedelta(days=8), expires=None))
    fake_upstream.route_sequence(
        TOKEN_PATH,
        [
            (503, {"error": "temporarily_unavailable"}),
            (500, b"<html>oops</html>"),
            (200, answer("New02", expires=NOW + timedelta(days=10))),
        ],
    )

    outcome, detail = refresh()
    assert outcome == "failed"
    assert detail == (
        "refresh failed (attempt 1): HTTP 503 from the OAuth token endpoint "
        "(temporarily_unavailable); retry at 2026-11-20T12:01:00Z"
    )
    assert RunnerStep.objects.get(name="auth_refresh").next_due_at == NOW + timedelta(minutes=1)
    overview = client_for(admin_token).get("/admin/overview").json()["data"]
    assert overview["login"]["refresh_state"] == "retrying"
    assert overview["login"]["refresh_attempts"] == 1
    assert overview["canonical_auth"]["valid"] is not False

    clock.shift(timedelta(seconds=30))
    assert refresh() == ("skipped", "backing off until 2026-11-20T12:01:00Z")
    clock.shift(timedelta(seconds=30))
    assert refresh()[1].startswith("refresh failed (attempt 2): HTTP 500")
    clock.shift(timedelta(minutes=2))
    assert refresh()[0] == "ok"
    assert len(posts(fake_upstream)) == 3
    assert current().refresh_attempts == 0  # a new version starts afresh
    assert AuditEvent.objects.filter(action="auth.refresh_failed").count() == 2


def test_an_unreachable_endpoint_is_a_passing_failure(clock, store, refresh):
    store(login("Old01", last_refresh=NOW - timedelta(days=8), expires=None))

    outcome, detail = refresh()  # CODEX_OAUTH_TOKEN_URL points at a closed port

    assert outcome == "failed"
    assert detail.startswith("refresh failed (attempt 1): request failed: ConnectionError")
    assert current().refresh_failed_at is None


@pytest.mark.parametrize(
    "status, body, retry_after, permanent, seconds",
    [
        (429, {"error": "rate_limited"}, "120", False, 120),
        (429, {}, "soon", False, None),
        (403, {"error": {"code": "refresh_token_reused"}}, None, True, None),
        (400, {"error": "invalid_request"}, None, False, None),
        (502, None, None, False, None),
    ],
)
def test_answers_are_classified_as_codex_does(status, body, retry_after, permanent, seconds):
    failure = oauth.classify(status, body, retry_after)

    assert failure.permanent is permanent
    assert failure.retry_after_seconds == seconds


def test_an_error_code_is_kept_only_when_it_looks_like_one():
    assert oauth.error_code({"error": {"code": "Refresh_Token_Reused"}}) == "refresh_token_reused"
    assert oauth.error_code({"code": "invalid_grant"}) == "invalid_grant"
    assert oauth.error_code({"error": "token rt_abc is bad, see https://x"}) is None
    assert oauth.error_code(["invalid_grant"]) is None


# --- hosts that refreshed by themselves ---------------------------------------------------------


def test_a_host_login_stored_meanwhile_wins_and_its_token_is_the_next_one_spent(
    clock, fake_upstream, store, refresh, client_for, admin_token
):
    store(login("Old01", last_refresh=NOW - timedelta(days=8), expires=None))
    # A host's Codex refreshed the login by itself and stored it before the runner's cycle.
    clock.shift(timedelta(minutes=1))
    own = login("Host02", last_refresh=NOW, expires=NOW + timedelta(minutes=30))
    assert store(own)["status"] == "updated"
    fake_upstream.route(TOKEN_PATH, 200, answer("New03", expires=NOW + timedelta(days=10)))

    overview = client_for(admin_token).get("/admin/overview").json()["data"]
    assert overview["login"]["refreshed_by"] == "host"
    assert overview["login"]["refreshed_by_host"] == "build-01"
    assert refresh()[0] == "ok"  # due: its access token expires within the hour

    (call,) = posts(fake_upstream)
    assert json.loads(call["body"])["refresh_token"] == refresh_token("Host02")
    assert current_auth()["tokens"]["refresh_token"] == refresh_token("New03")
    overview = client_for(admin_token).get("/admin/overview").json()["data"]
    assert overview["login"]["refreshed_by"] == "server"
    assert overview["login"]["refreshed_by_host"] is None


def test_a_host_login_older_than_the_refreshed_one_is_answered_with_it(
    clock, fake_upstream, store, refresh
):
    old = login("Old01", last_refresh=NOW - timedelta(days=8), expires=None)
    store(old)
    fake_upstream.route(TOKEN_PATH, 200, answer("New02", expires=NOW + timedelta(days=10)))
    refresh()

    # A host that still offers its copy (older than the server's refresh) takes the new one.
    late = store(old)
    assert late["status"] == "outdated"
    assert late["auth"] == current_auth()


# --- what the admin routes show -----------------------------------------------------------------


def test_overview_shows_expiry_last_refresh_and_who_made_it(
    clock, fake_upstream, store, refresh, client_for, admin_token
):
    admin = client_for(admin_token)
    assert admin.get("/admin/overview").json()["data"]["login"] is None
    expires = NOW + timedelta(hours=5)
    stored = login("Old01", last_refresh=NOW - timedelta(hours=2), expires=expires)
    store(stored)

    data = admin.get("/admin/overview").json()["data"]["login"]

    assert data == {
        "digest": current().digest,
        "last_refresh": stored["last_refresh"],
        "refreshed_by": "host",
        "refreshed_by_host": "build-01",
        "access_expires_at": "2026-11-20T17:00:00Z",
        "access_expires_in_seconds": 5 * 3600,
        "refresh_state": "scheduled",
        "refresh_due_at": "2026-11-20T16:00:00Z",
        "refresh_attempts": 0,
        "refresh_retry_at": None,
        "refresh_error": None,
        "refresh_failed_at": None,
        "action": None,
    }
    clock.shift(timedelta(hours=4, minutes=1))
    assert admin.get("/admin/overview").json()["data"]["login"]["refresh_state"] == "due"


# --- secrets ------------------------------------------------------------------------------------


def test_no_token_reaches_a_log_line_an_audit_event_or_a_runner_record(
    clock, fake_upstream, store, refresh, caplog, client_for, admin_token
):
    caplog.set_level(logging.DEBUG)
    first = login("Old01", last_refresh=NOW - timedelta(days=8), expires=None)
    store(first)
    fresh = answer("New02", expires=NOW + timedelta(days=10))
    fake_upstream.route_sequence(
        TOKEN_PATH,
        [
            (503, {"error": "server_error"}),
            (200, fresh),
            (401, {"error": {"code": "refresh_token_reused", "token": refresh_token("New02")}}),
        ],
    )
    refresh()  # passing failure
    clock.shift(timedelta(minutes=5))
    refresh()  # refreshed
    clock.shift(timedelta(days=8))
    refresh()  # refused
    admin = client_for(admin_token)
    shown = [admin.get(path).content.decode() for path in ("/admin/overview", "/admin/runner")]

    secrets = [*first["tokens"].values(), *fresh.values()]
    secrets.remove(ACCOUNT_ID)  # an identifier, not a credential
    events = json.dumps(list(AuditEvent.objects.values("action", "actor", "meta")))
    records = json.dumps(list(RunnerCycle.objects.values_list("steps", flat=True)))
    details = json.dumps(list(RunnerStep.objects.values_list("last_detail", flat=True)))
    assert {"auth.refresh", "auth.refresh_failed"} <= set(
        AuditEvent.objects.values_list("action", flat=True)
    )
    assert len(posts(fake_upstream)) == 3
    for text in (caplog.text, events, records, details, *shown):
        for secret in secrets:
            assert secret not in text
