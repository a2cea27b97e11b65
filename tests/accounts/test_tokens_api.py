"""/api/admin/tokens: issue, list, revoke, expiry, validation, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.models import ApiToken, AuditEvent
from core.hashing import sha256_hex

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def issue(client, **body):
    return client.post("/api/admin/tokens", body, format="json")


def test_it_issues_a_token_shown_once_and_stored_hashed(client_for, admin_token):
    response = issue(client_for(admin_token), user="bob", scope="ingest", label="laptop")
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("wi_") and len(body["token"]) == 3 + 43
    assert {"id", "user", "scope", "label", "createdAt", "expiresAt"} <= body.keys()
    assert (body["user"], body["scope"], body["label"]) == ("bob", "ingest", "laptop")
    row = ApiToken.objects.get(pk=body["id"])
    assert row.token_hash == sha256_hex(body["token"])
    assert body["token"] not in str(ApiToken.objects.filter(pk=row.pk).values().first())
    listing = client_for(admin_token).get("/api/admin/tokens").json()["tokens"]
    listed = next(item for item in listing if item["id"] == body["id"])
    assert "token" not in listed and "token_hash" not in listed
    assert listed["hint"].startswith("wi_") and body["token"] not in str(listing)


@pytest.mark.parametrize(
    ("scope", "prefix"), [("admin", "wa_"), ("ingest", "wi_"), ("read", "wr_"), ("embed", "we_")]
)
def test_it_prefixes_each_scope_and_the_new_token_authenticates(
    client_for, admin_token, scope, prefix
):
    plaintext = issue(client_for(admin_token), user="bob", scope=scope).json()["token"]
    assert plaintext.startswith(prefix)
    # Only admin can list tokens; every other scope is known (403), not unknown (401).
    expected = 200 if scope == "admin" else 403
    assert client_for(plaintext).get("/api/admin/tokens").status_code == expected


def test_it_lists_newest_first_with_state_and_a_masked_hint(client_for, admin_token):
    client = client_for(admin_token)
    first = issue(client, user="a", scope="read").json()
    second = issue(client, user="b", scope="embed").json()
    client.delete(f"/api/admin/tokens/{first['id']}")
    tokens = client.get("/api/admin/tokens").json()["tokens"]
    ids = [token["id"] for token in tokens]
    assert ids.index(second["id"]) < ids.index(first["id"])
    by_id = {token["id"]: token for token in tokens}
    assert by_id[first["id"]]["active"] is False and by_id[first["id"]]["revokedAt"]
    assert by_id[second["id"]]["active"] is True and by_id[second["id"]]["revokedAt"] is None
    assert by_id[second["id"]]["hint"] == f"{second['token'][:3]}…{second['token'][-4:]}"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "read"}, "user"),
        ({"user": "   ", "scope": "read"}, "user"),
        ({"user": "x" * 101, "scope": "read"}, "user"),
        ({"user": "bob"}, "scope"),
        ({"user": "bob", "scope": "superuser"}, "scope"),
        ({"user": "bob", "scope": "read", "expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt"),
        ({"user": "bob", "scope": "read", "expiresAt": "next tuesday"}, "expiresAt"),
        ({"user": "bob", "scope": "read", "label": "l" * 201}, "label"),
    ],
)
def test_it_answers_400_with_the_offending_field(client_for, admin_token, body, field):
    before = ApiToken.objects.count()
    response = issue(client_for(admin_token), **body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["error"] == "Invalid request."
    assert set(payload["fields"]) == {field}
    assert isinstance(payload["fields"][field], str) and payload["fields"][field]
    assert ApiToken.objects.count() == before
    assert not AuditEvent.objects.filter(action="token.issue", meta__user="bob").exists()


def test_it_names_every_bad_field_at_once(client_for, admin_token):
    response = issue(client_for(admin_token), scope="nope")
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"user", "scope"}


def test_it_says_which_scopes_exist(client_for, admin_token):
    response = issue(client_for(admin_token), user="bob", scope="superuser")
    assert "superuser" in response.json()["fields"]["scope"]


@pytest.mark.parametrize("raw", ["[1, 2]", '"text"', "{not json"])
def test_it_answers_400_for_a_body_that_is_not_a_json_object(client_for, admin_token, raw):
    response = client_for(admin_token).post(
        "/api/admin/tokens", raw, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]


def test_it_stops_accepting_a_token_at_its_expiry(client_for, admin_token):
    with time_machine.travel(NOW, tick=False):
        body = issue(
            client_for(admin_token),
            user="bob",
            scope="read",
            expiresAt=(NOW + timedelta(hours=1)).isoformat(),
        ).json()
        assert body["expiresAt"] == "2025-03-01T13:00:00Z"
        reader = client_for(body["token"])
        assert reader.get("/api/admin/tokens").status_code == 403  # known, wrong scope
    with time_machine.travel(NOW + timedelta(minutes=59), tick=False):
        assert reader.get("/api/admin/tokens").status_code == 403
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        response = reader.get("/api/admin/tokens")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
        listed = client_for(admin_token).get("/api/admin/tokens").json()["tokens"]
        assert next(t for t in listed if t["id"] == body["id"])["active"] is False


def test_it_revokes_a_token_with_204_and_it_then_fails_with_401(client_for, admin_token):
    client = client_for(admin_token)
    body = issue(client, user="bob", scope="admin").json()
    victim = client_for(body["token"])
    assert victim.get("/api/admin/tokens").status_code == 200
    response = client.delete(f"/api/admin/tokens/{body['id']}")
    assert response.status_code == 204 and response.content == b""
    assert victim.get("/api/admin/tokens").status_code == 401
    assert ApiToken.objects.get(pk=body["id"]).revoked_at is not None
    # Revoking again is harmless.
    assert client.delete(f"/api/admin/tokens/{body['id']}").status_code == 204


def test_it_answers_404_for_an_unknown_token_id(client_for, admin_token):
    response = client_for(admin_token).delete("/api/admin/tokens/999999")
    assert response.status_code == 404
    assert response.json() == {"error": "Token not found."}
    assert not AuditEvent.objects.filter(action="token.revoke").exists()


def test_it_answers_404_json_for_a_non_numeric_id(client_for, admin_token):
    response = client_for(admin_token).delete("/api/admin/tokens/abc")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found."}


def test_it_answers_405_for_a_method_the_route_lacks(client_for, admin_token):
    response = client_for(admin_token).put("/api/admin/tokens", {}, format="json")
    assert response.status_code == 405
    assert "error" in response.json()


def test_it_audits_issue_and_revoke_with_actor_and_ip_but_no_secret(client_for, admin_token):
    admin_row = ApiToken.objects.get(token_hash=sha256_hex(admin_token))
    client = client_for(admin_token)
    body = issue(client, user="bob", scope="ingest", label="ci").json()
    client.delete(f"/api/admin/tokens/{body['id']}")
    issued = AuditEvent.objects.get(action="token.issue", meta__token_id=body["id"])
    revoked = AuditEvent.objects.get(action="token.revoke", meta__token_id=body["id"])
    for event in (issued, revoked):
        assert event.actor == f"token:{admin_row.pk}:root"
        assert event.ip == "127.0.0.1"
        assert body["token"] not in str(event.meta)
        assert sha256_hex(body["token"]) not in str(event.meta)
    assert issued.meta == {
        "token_id": body["id"],
        "user": "bob",
        "scope": "ingest",
        "hint": body["hint"],
    }
    assert revoked.meta["user"] == "bob" and revoked.ts >= issued.ts


def test_it_writes_last_used_at_at_most_once_a_minute(client_for, admin_token):
    row = ApiToken.objects.get(token_hash=sha256_hex(admin_token))
    client = client_for(admin_token)
    with time_machine.travel(NOW, tick=False):
        client.get("/api/admin/tokens")
    row.refresh_from_db()
    assert row.last_used_at == NOW
    with time_machine.travel(NOW + timedelta(seconds=59), tick=False):
        client.get("/api/admin/tokens")
    row.refresh_from_db()
    assert row.last_used_at == NOW
    with time_machine.travel(NOW + timedelta(seconds=61), tick=False):
        client.get("/api/admin/tokens")
    row.refresh_from_db()
    assert row.last_used_at == NOW + timedelta(seconds=61)


def test_it_takes_a_naive_expiry_as_utc_in_the_service():
    from accounts.services import token_issue

    with time_machine.travel(NOW, tick=False):
        token, _plaintext = token_issue(
            user="svc", scope="read", expires_at=datetime(2025, 3, 2, 12, 0)
        )
    assert token.expires_at == datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
