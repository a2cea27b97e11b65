"""`POST /admin/auth/upload`: validated exactly like a host's store (same 422s), becomes the
canonical login (the way to seed a fresh server), audited without a secret, and hosts then
receive it through `/auth`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from accounts.models import AuditEvent
from hosts.models import CanonicalAuth, RunnerStep
from tests.hosts.conftest import ACCESS_TOKEN, REFRESH_TOKEN
from tests.hosts.test_auth_retrieve import as_stored, sha256_of

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def admin(client_for, admin_token):
    return client_for(admin_token)


def upload(admin, auth, **extra):
    return admin.post("/admin/auth/upload", {"auth": auth, **extra}, format="json")


def test_it_seeds_a_fresh_server_and_hosts_then_receive_it(admin, host_client, codex_auth):
    auth = codex_auth("2026-11-20T09:00:00Z")

    response = upload(admin, auth)

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["status"] == "updated"
    assert data["canonical_digest"] == sha256_of(as_stored(auth))
    assert data["canonical"]["source"] == "admin"
    got = host_client.post(
        "/auth",
        {"command": "retrieve", "last_refresh": "2026-11-01T00:00:00Z", "digest": "a" * 64},
        format="json",
    ).json()["data"]
    assert got["status"] == "outdated"
    assert got["auth"] == as_stored(auth)
    assert got["canonical_digest"] == data["canonical_digest"]


def test_it_accepts_the_bare_auth_json_as_the_body(admin, codex_auth):
    auth = codex_auth()

    response = admin.post("/admin/auth/upload", auth, format="json")

    assert response.json()["data"]["canonical_digest"] == sha256_of(as_stored(auth))


def test_it_replaces_even_a_newer_canonical_because_the_operator_decides(
    admin, host_client, codex_auth
):
    host_client.post(
        "/auth", {"command": "store", "auth": codex_auth("2026-11-20T11:00:00Z")}, format="json"
    )
    older = codex_auth("2026-11-20T08:00:00Z", access_token="eyJ" + "z" * 30 + "Operator1")

    data = upload(admin, older).json()["data"]

    assert data["status"] == "updated"
    current = CanonicalAuth.objects.get(is_current=True)
    assert current.digest == sha256_of(as_stored(older)) and current.source == "admin"
    assert CanonicalAuth.objects.count() == 2


def test_the_same_login_again_is_unchanged_and_not_audited_twice(admin, codex_auth):
    upload(admin, codex_auth())

    again = upload(admin, codex_auth()).json()["data"]

    assert again["status"] == "unchanged"
    assert AuditEvent.objects.filter(action="auth.upload").count() == 1
    assert CanonicalAuth.objects.count() == 1


def test_it_audits_digests_never_tokens_and_asks_the_runner_to_check_the_login(admin, codex_auth):
    upload(admin, codex_auth())

    event = AuditEvent.objects.get(action="auth.upload")
    assert event.actor.startswith("token:") and event.actor.endswith(":root")
    assert event.meta["digest"] == CanonicalAuth.objects.get().digest
    assert ACCESS_TOKEN not in str(event.meta) and REFRESH_TOKEN not in str(event.meta)
    assert RunnerStep.objects.get(name="quota").requested_at == NOW


def test_it_records_the_host_it_came_from(admin, host, codex_auth):
    upload(admin, codex_auth(), host_id=host.pk)

    assert CanonicalAuth.objects.get().source_host_id == host.pk
    assert upload(admin, codex_auth("2026-11-20T11:00:00Z"), host_id=999999).status_code == 404
    assert upload(admin, codex_auth("2026-11-20T11:00:00Z"), host_id="x").status_code == 422


INVALID = [
    pytest.param(lambda make: "not an object", id="not-an-object"),
    pytest.param(lambda make: make("2026-11-20 10:00"), id="last-refresh-not-rfc3339"),
    pytest.param(lambda make: make("1999-12-31T23:59:59Z"), id="before-2000"),
    pytest.param(lambda make: make("2026-11-20T12:06:00Z"), id="future"),
    pytest.param(lambda make: make(access_token="short"), id="short-token"),
    pytest.param(lambda make: make(access_token="your_token_here_000000000000"), id="placeholder"),
    pytest.param(lambda make: {"last_refresh": "2026-11-20T10:00:00Z"}, id="no-token"),
    pytest.param(lambda make: make(auths={"api.openai.com": "x"}), id="bad-auths"),
]


@pytest.mark.parametrize("build", INVALID)
def test_it_refuses_exactly_what_a_store_refuses(admin, host_client, codex_auth, build):
    auth = build(codex_auth)

    uploaded = upload(admin, auth)
    stored = host_client.post("/auth", {"command": "store", "auth": auth}, format="json")

    assert uploaded.status_code == stored.status_code == 422
    assert uploaded.json() == stored.json()
    assert not CanonicalAuth.objects.exists()
    assert not AuditEvent.objects.filter(action="auth.upload").exists()
