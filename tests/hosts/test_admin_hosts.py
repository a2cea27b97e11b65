"""`/admin/hosts*`: list and detail (no N+1, paging), the auth view (no secret without
`include_body`), roaming, status, clear and delete with their side effects, and register →
rotate → the old key is refused. Every change is audited with the admin actor."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from core.hashing import secret_hint, sha256_hex
from hosts.models import CanonicalAuth, Host, HostAuthDigest, HostAuthState
from tests.hosts.conftest import ACCESS_TOKEN, REFRESH_TOKEN
from tests.hosts.test_auth_retrieve import as_stored, sha256_of
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

CANONICAL_AT = "2026-11-20T10:00:00.123456789Z"


@pytest.fixture
def admin(client_for, admin_token) -> APIClient:
    return client_for(admin_token)


@pytest.fixture
def synced(host, host_client, codex_auth) -> dict:
    """build-01 stored the canonical login and retrieved it twice (state and digests exist)."""
    auth = codex_auth(CANONICAL_AT)
    host_client.post("/auth", {"command": "store", "auth": auth}, format="json")
    digest = sha256_of(as_stored(auth))
    body = {"command": "retrieve", "last_refresh": CANONICAL_AT, "digest": digest}
    assert host_client.post("/auth", body, format="json").json()["data"]["status"] == "valid"
    usage = {"total": 1500, "input": 1000, "output": 500, "reasoning": 200}
    assert host_client.post("/usage", usage, format="json").status_code == 200
    return {"auth": as_stored(auth), "digest": digest, "retrieve": body}


def make_host(fqdn: str) -> Host:
    key = f"tfh_{fqdn.replace('-', '_')}_key_0123456789abcdefghijklmnop"
    return Host.objects.create(
        fqdn=fqdn, api_key_hash=sha256_hex(key), api_key_hint=secret_hint(key)
    )


def test_it_lists_hosts_with_digests_versions_ip_roaming_and_latest_usage(admin, synced, host):
    data = admin.get("/admin/hosts").json()["data"]

    (row,) = data["hosts"]
    assert row["id"] == host.pk and row["fqdn"] == "build-01" and row["owner"] == "alice"
    assert row["ip"] == "127.0.0.1" and row["allow_roaming_ips"] is False
    assert row["canonical_digest"] == synced["digest"]
    assert row["auth"]["digest"] == synced["digest"] and row["auth"]["in_sync"] is True
    assert row["auth"]["last_status"] == "valid"
    assert [entry["digest"] for entry in row["recent_digests"]] == [synced["digest"]]
    assert row["api_calls"] == 3
    assert row["latest_usage"]["total"] == 1500 and row["latest_usage"]["reasoning"] == 200
    assert data["next_before"] is None
    assert "api_key_hash" not in row and "api_key" not in row


def test_the_list_costs_the_same_queries_for_one_host_or_twenty(
    admin, synced, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12) as one:
        admin.get("/admin/hosts")
    for index in range(19):
        make_host(f"node-{index:02d}")
    with django_assert_max_num_queries(len(one)):
        response = admin.get("/admin/hosts")
    assert len(response.json()["data"]["hosts"]) == 20


def test_it_pages_newest_first_with_a_capped_limit_and_a_before_cursor(admin, host):
    for index in range(4):
        make_host(f"node-{index}")
    ids = sorted(Host.objects.values_list("id", flat=True), reverse=True)

    first = admin.get("/admin/hosts?limit=2").json()["data"]
    second = admin.get(f"/admin/hosts?limit=2&before={first['next_before']}").json()["data"]
    third = admin.get(f"/admin/hosts?limit=2&before={second['next_before']}").json()["data"]
    capped = admin.get("/admin/hosts?limit=100000").json()["data"]

    assert [row["id"] for row in first["hosts"]] == ids[:2]
    assert [row["id"] for row in second["hosts"]] == ids[2:4]
    assert [row["id"] for row in third["hosts"]] == ids[4:]
    assert third["next_before"] is None
    assert len(capped["hosts"]) == 5


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "before=0", "before=abc"])
def test_it_refuses_bad_paging_in_the_fleet_dialect(admin, query):
    response = admin.get(f"/admin/hosts?{query}")

    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "error" and set(body["errors"]) <= {"limit", "before"}


def test_detail_carries_this_months_tokens(admin, synced, host):
    data = admin.get(f"/admin/hosts/{host.pk}").json()["data"]["host"]

    assert data["fqdn"] == "build-01"
    assert data["token_usage_month"]["total"] == 1500


@pytest.mark.parametrize(
    "method, suffix, body",
    [
        ("get", "", None),
        ("delete", "", None),
        ("get", "/auth", None),
        ("post", "/roaming", {"allow": True}),
        ("post", "/clear", {}),
        ("post", "/status", {"status": "disabled"}),
    ],
)
def test_an_unknown_host_is_404(admin, method, suffix, body):
    response = getattr(admin, method)(f"/admin/hosts/999999{suffix}", body, format="json")

    assert response.status_code == 404
    assert response.json() == {"status": "error", "message": "Host not found."}


def test_auth_shows_no_secret_without_include_body(admin, synced, host):
    response = admin.get(f"/admin/hosts/{host.pk}/auth")

    data = response.json()["data"]
    assert data["canonical"]["digest"] == synced["digest"]
    assert data["canonical"]["last_refresh"] == CANONICAL_AT
    assert data["host_state"]["digest"] == synced["digest"]
    assert "auth" not in data
    assert ACCESS_TOKEN not in response.content.decode()
    assert REFRESH_TOKEN not in response.content.decode()


def test_auth_with_include_body_answers_the_canonical_login_and_audits_the_read(
    admin, synced, host
):
    data = admin.get(f"/admin/hosts/{host.pk}/auth?include_body=1").json()["data"]

    assert data["auth"] == synced["auth"]
    assert sha256_of(data["auth"]) == synced["digest"]
    event = AuditEvent.objects.get(action="auth.read")
    assert event.actor.startswith("token:") and event.meta["digest"] == synced["digest"]
    assert ACCESS_TOKEN not in str(event.meta)


@pytest.mark.parametrize("value", ["true", 1, None, "yes", [True]])
def test_roaming_refuses_anything_but_a_boolean(admin, host, value):
    response = admin.post(f"/admin/hosts/{host.pk}/roaming", {"allow": value}, format="json")

    assert response.status_code == 422
    assert response.json()["message"] == "allow must be boolean"
    assert not AuditEvent.objects.filter(action="host.roaming").exists()


def test_roaming_answers_the_host_with_its_flag_and_lets_it_move(admin, synced, host, host_key):
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.7")
    elsewhere.credentials(HTTP_X_API_KEY=host_key)
    assert elsewhere.post("/auth", synced["retrieve"], format="json").status_code == 403

    response = admin.post(f"/admin/hosts/{host.pk}/roaming", {"allow": True}, format="json")

    assert response.json()["data"]["host"] == {
        "id": host.pk,
        "fqdn": "build-01",
        "allow_roaming_ips": True,
    }
    assert elsewhere.post("/auth", synced["retrieve"], format="json").status_code == 200
    host.refresh_from_db()
    assert host.bound_ip == "198.51.100.7"
    event = AuditEvent.objects.get(action="host.roaming")
    assert event.meta["allow"] is True and event.actor.startswith("token:")


def test_status_disabled_locks_the_host_out_until_active_again(admin, synced, host, host_client):
    off = admin.post(f"/admin/hosts/{host.pk}/status", {"status": "disabled"}, format="json")
    refused = host_client.post("/auth", synced["retrieve"], format="json")
    on = admin.post(f"/admin/hosts/{host.pk}/status", {"status": "active"}, format="json")
    back = host_client.post("/auth", synced["retrieve"], format="json")

    assert off.json()["data"]["host"]["status"] == "disabled"
    assert refused.status_code == 403
    assert refused.json() == {"status": "error", "message": "Host is disabled"}
    assert on.json()["data"]["host"]["status"] == "active"
    assert back.status_code == 200
    events = AuditEvent.objects.filter(action="host.status").order_by("id")
    assert [event.meta["status"] for event in events] == ["disabled", "active"]


@pytest.mark.parametrize("value", ["paused", "", None, 1])
def test_status_refuses_unknown_values(admin, host, value):
    response = admin.post(f"/admin/hosts/{host.pk}/status", {"status": value}, format="json")

    assert response.status_code == 422
    assert "status" in response.json()["errors"]
    host.refresh_from_db()
    assert host.status == "active"


def test_clear_forgets_what_the_host_holds_but_not_the_canonical_login(
    admin, synced, host, host_client
):
    response = admin.post(f"/admin/hosts/{host.pk}/clear", {}, format="json")

    assert response.status_code == 200
    assert not HostAuthState.objects.filter(host=host).exists()
    assert not HostAuthDigest.objects.filter(host=host).exists()
    assert CanonicalAuth.objects.get(is_current=True).digest == synced["digest"]
    row = admin.get(f"/admin/hosts/{host.pk}").json()["data"]["host"]
    assert row["auth"] is None and row["recent_digests"] == []
    event = AuditEvent.objects.get(action="host.clear")
    assert event.meta["previous_digest"] == synced["digest"] and event.meta["digests_deleted"] == 1
    # The next exchange records afresh.
    host_client.post("/auth", synced["retrieve"], format="json")
    assert HostAuthState.objects.get(host=host).digest == synced["digest"]


def test_delete_removes_the_host_and_its_digests_and_keeps_its_usage(
    admin, synced, host, host_client
):
    response = admin.delete(f"/admin/hosts/{host.pk}")

    assert response.json()["data"] == {"deleted": "build-01", "id": host.pk}
    assert not Host.objects.filter(pk=host.pk).exists()
    assert not HostAuthDigest.objects.exists() and not HostAuthState.objects.exists()
    record = UsageRecord.objects.get()
    assert record.host_id is None and record.machine == "build-01"
    assert host_client.post("/auth", synced["retrieve"], format="json").status_code == 401
    event = AuditEvent.objects.get(action="host.delete")
    assert event.meta["fqdn"] == "build-01" and event.actor.startswith("token:")
    assert admin.delete(f"/admin/hosts/{host.pk}").status_code == 404


def test_register_then_rotate_refuses_the_old_key(admin):
    first = admin.post("/admin/hosts/register", {"fqdn": "ci-07.example"}, format="json")
    old_key = first.json()["data"]["host"]["api_key"]
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    client.credentials(HTTP_X_API_KEY=old_key)
    retrieve = {"command": "retrieve", "last_refresh": CANONICAL_AT, "digest": "a" * 64}
    assert client.post("/auth", retrieve, format="json").status_code == 200

    second = admin.post("/admin/hosts/register", {"fqdn": "ci-07.example"}, format="json")

    new_key = second.json()["data"]["host"]["api_key"]
    assert second.json()["data"]["rotated"] is True and new_key != old_key
    refused = client.post("/auth", retrieve, format="json")
    assert refused.status_code == 401
    assert refused.json() == {"status": "error", "message": "Invalid API key"}
    fresh = APIClient(REMOTE_ADDR="127.0.0.1")
    fresh.credentials(HTTP_X_API_KEY=new_key)
    assert fresh.post("/auth", retrieve, format="json").status_code == 200
    actions = list(
        AuditEvent.objects.filter(action__startswith="host.").values_list("action", flat=True)
    )
    assert actions == ["host.register", "host.rotate"]
