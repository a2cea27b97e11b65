"""/api/admin/audit?since=&limit=: oldest first from `since` (inclusive), limit capped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from accounts import selectors
from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def events(admin_token):
    """Five events a minute apart from T0, created out of order (the fixture's own come first)."""
    AuditEvent.objects.all().delete()
    for minute in (3, 0, 4, 1, 2):
        AuditEvent.objects.create(
            action=f"test.m{minute}",
            ts=T0 + timedelta(minutes=minute),
            actor="tester",
            ip="192.0.2.1",
            meta={"minute": minute},
        )


def actions(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [entry["action"] for entry in response.json()["entries"]]


def test_it_lists_oldest_first_with_the_documented_shape(client_for, admin_token, events):
    response = client_for(admin_token).get("/api/admin/audit")
    assert actions(response) == [f"test.m{minute}" for minute in range(5)]
    first = response.json()["entries"][0]
    assert set(first) == {"id", "ts", "action", "actor", "ip", "meta"}
    assert first["ts"] == "2025-01-01T00:00:00Z"
    assert (first["actor"], first["ip"], first["meta"]) == ("tester", "192.0.2.1", {"minute": 0})


@pytest.mark.parametrize(
    "since",
    [
        "2025-01-01T00:02:00Z",
        "2025-01-01T01:02:00+01:00",
        "2025-01-01T00:02:00",
        str(int((T0 + timedelta(minutes=2)).timestamp())),
        str(int((T0 + timedelta(minutes=2)).timestamp() * 1000)),
    ],
)
def test_it_starts_at_since_inclusive(client_for, admin_token, events, since):
    response = client_for(admin_token).get("/api/admin/audit", {"since": since})
    assert actions(response) == ["test.m2", "test.m3", "test.m4"]


def test_it_reads_an_offset_whose_plus_was_not_encoded(client_for, admin_token, events):
    response = client_for(admin_token).get("/api/admin/audit?since=2025-01-01T01:02:00+01:00")
    assert actions(response) == ["test.m2", "test.m3", "test.m4"]


def test_it_pages_with_since_and_limit(client_for, admin_token, events):
    client = client_for(admin_token)
    page = client.get("/api/admin/audit", {"limit": 2}).json()["entries"]
    assert [entry["action"] for entry in page] == ["test.m0", "test.m1"]
    following = client.get("/api/admin/audit", {"since": page[-1]["ts"], "limit": 2})
    # `since` is inclusive, so the boundary event repeats; a reader skips ids it has seen.
    assert actions(following) == ["test.m1", "test.m2"]


def test_it_answers_an_empty_list_after_the_last_event(client_for, admin_token, events):
    response = client_for(admin_token).get("/api/admin/audit", {"since": "2030-01-01T00:00:00Z"})
    assert response.json() == {"entries": []}


def test_it_caps_the_limit_and_has_a_default(client_for, admin_token):
    AuditEvent.objects.bulk_create(
        AuditEvent(action="test.bulk", ts=T0 + timedelta(seconds=second))
        for second in range(selectors.AUDIT_LIMIT_MAX + 5)
    )
    client = client_for(admin_token)
    assert len(client.get("/api/admin/audit").json()["entries"]) == selectors.AUDIT_LIMIT_DEFAULT
    capped = client.get("/api/admin/audit", {"limit": 10**9}).json()["entries"]
    assert len(capped) == selectors.AUDIT_LIMIT_MAX
    assert capped[0]["ts"] == "2025-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "-3"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"since": "nan"}, "since"),
        ({"since": "1e300"}, "since"),
    ],
)
def test_it_answers_400_for_bad_parameters(client_for, admin_token, params, field):
    response = client_for(admin_token).get("/api/admin/audit", params)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid request." and set(body["fields"]) == {field}


def test_it_shows_what_the_admin_did_through_the_api(client_for, admin_token):
    client = client_for(admin_token)
    issued = client.post("/api/admin/tokens", {"user": "bob", "scope": "read"}, format="json")
    client.delete(f"/api/admin/tokens/{issued.json()['id']}")
    client_for("wr_" + "z" * 43).get("/api/admin/tokens")
    entries = client.get("/api/admin/audit").json()["entries"]
    tail = [(entry["action"], entry["meta"].get("user")) for entry in entries[-3:]]
    assert tail == [("token.issue", "bob"), ("token.revoke", "bob"), ("auth.failed", None)]
    assert issued.json()["token"] not in str(entries)
