"""`POST /auth` with `command: "retrieve"`: every row of the decision table, at full precision.

no canonical → missing; same digest → valid; client newer → upload_required; otherwise
outdated with the canonical `auth`. Digests are computed here independently of the server.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import time_machine

from hosts.models import HostAuthDigest, HostAuthState

pytestmark = pytest.mark.django_db

CANONICAL_AT = "2026-11-20T10:00:00.123456789Z"


def sha256_of(obj: dict) -> str:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def as_stored(auth: dict) -> dict:
    """What the server keeps: the upload with `auths` synthesised as the last key."""
    token = auth["tokens"]["access_token"]
    return {**auth, "auths": {"api.openai.com": {"token": token, "token_type": "bearer"}}}


def retrieve(client, last_refresh: str, digest: str, **extra):
    body = {"command": "retrieve", "last_refresh": last_refresh, "digest": digest, **extra}
    return client.post("/auth", body, format="json")


@pytest.fixture
def canonical(host_client, codex_auth) -> dict:
    """A canonical login stored by build-01; returns the object as the server keeps it."""
    auth = codex_auth(CANONICAL_AT)
    response = host_client.post("/auth", {"command": "store", "auth": auth}, format="json")
    assert response.json()["data"]["status"] == "updated"
    return as_stored(auth)


def test_it_answers_missing_when_there_is_no_canonical_auth(host_client):
    response = retrieve(host_client, CANONICAL_AT, "a" * 64)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    data = body["data"]
    assert data["status"] == "missing"
    assert data["canonical_digest"] is None and data["canonical_last_refresh"] is None
    assert "auth" not in data


def test_it_answers_valid_when_the_digest_is_the_canonical_one(host_client, canonical):
    response = retrieve(host_client, CANONICAL_AT, sha256_of(canonical))

    data = response.json()["data"]
    assert data["status"] == "valid"
    assert data["canonical_digest"] == sha256_of(canonical)
    assert data["canonical_last_refresh"] == CANONICAL_AT
    assert "auth" not in data


def test_it_answers_valid_for_an_upper_case_digest(host_client, canonical):
    response = retrieve(host_client, CANONICAL_AT, sha256_of(canonical).upper())

    assert response.json()["data"]["status"] == "valid"


def test_it_asks_for_an_upload_when_the_client_is_one_nanosecond_newer(host_client, canonical):
    response = retrieve(host_client, "2026-11-20T10:00:00.123456790Z", "b" * 64)

    data = response.json()["data"]
    assert data["status"] == "upload_required"
    assert "auth" not in data


def test_it_sends_the_canonical_auth_when_the_client_is_one_nanosecond_older(
    host_client, canonical
):
    response = retrieve(host_client, "2026-11-20T10:00:00.123456788Z", "b" * 64)

    data = response.json()["data"]
    assert data["status"] == "outdated"
    assert data["auth"] == canonical
    assert list(data["auth"]) == list(canonical)  # key order kept, so the digest reproduces
    assert sha256_of(data["auth"]) == data["canonical_digest"] == sha256_of(canonical)


def test_it_sends_the_canonical_auth_when_the_timestamp_is_equal_but_the_digest_differs(
    host_client, canonical
):
    response = retrieve(host_client, CANONICAL_AT, "c" * 64)

    data = response.json()["data"]
    assert data["status"] == "outdated"
    assert data["auth"] == canonical


def test_it_compares_instants_not_text_across_offsets(host_client, canonical):
    # 11:00:00.123456789+01:00 is the canonical instant: not newer, digest differs → outdated.
    same_instant = retrieve(host_client, "2026-11-20T11:00:00.123456789+01:00", "d" * 64)
    one_ns_later = retrieve(host_client, "2026-11-20T05:00:00.12345679-05:00", "d" * 64)

    assert same_instant.json()["data"]["status"] == "outdated"
    assert one_ns_later.json()["data"]["status"] == "upload_required"


def test_it_compares_microsecond_and_second_precision_against_nanoseconds(host_client, canonical):
    # .123456 (microseconds) is earlier than .123456789; whole seconds later are newer.
    micro = retrieve(host_client, "2026-11-20T10:00:00.123456Z", "e" * 64)
    later = retrieve(host_client, "2026-11-20T10:00:01Z", "e" * 64)

    assert micro.json()["data"]["status"] == "outdated"
    assert later.json()["data"]["status"] == "upload_required"


def test_it_records_what_the_host_holds_after_the_exchange(host, host_client, canonical):
    retrieve(host_client, "2026-11-20T09:00:00Z", "f" * 64)  # outdated: it takes the canonical

    state = HostAuthState.objects.get(host=host)
    assert state.last_status == "outdated"
    assert state.digest == sha256_of(canonical)
    assert state.last_refresh == CANONICAL_AT

    retrieve(host_client, "2026-11-21T09:00:00.5Z", "1" * 64)  # newer: it keeps its own
    state.refresh_from_db()
    assert (state.last_status, state.digest, state.last_refresh) == (
        "upload_required",
        "1" * 64,
        "2026-11-21T09:00:00.5Z",
    )
    assert state.last_refresh_ns == 1_795_251_600_500_000_000


def test_it_keeps_the_last_three_distinct_digests_per_host(host, host_client, canonical):
    for digit in "23452":
        retrieve(host_client, "2026-11-21T00:00:00Z", digit * 64)
    retrieve(host_client, "2026-11-21T00:00:00Z", "2" * 64)  # repeat: no new row

    recent = list(HostAuthDigest.objects.filter(host=host).values_list("digest", flat=True))
    assert recent == ["2" * 64, "5" * 64, "4" * 64]


def test_it_stores_the_versions_the_host_reports(host, host_client):
    retrieve(host_client, CANONICAL_AT, "a" * 64, client_version="0.63.0", wrapper_version="0.1.0")

    host.refresh_from_db()
    assert (host.client_version, host.wrapper_version) == ("0.63.0", "0.1.0")


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-20 10:00:00Z",  # space instead of T
        "2026-11-20T10:00:00",  # no offset
        "2026-11-20T10:00Z",  # no seconds
        "2026-02-30T10:00:00Z",  # no such day
        "2026-11-20T24:00:00Z",
        "2026-11-20T10:00:00.1234567891Z",  # finer than nanoseconds
        "1763632800",
        "yesterday",
        "",
        12345,
        None,
    ],
)
def test_it_refuses_a_last_refresh_that_is_not_rfc3339(host_client, value):
    response = retrieve(host_client, value, "a" * 64)

    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "error"
    assert body["message"] == "Validation failed."
    assert "last_refresh" in body["errors"]


def test_it_refuses_times_before_2000(host_client):
    before = retrieve(host_client, "1999-12-31T23:59:59.999999999Z", "a" * 64)
    at = retrieve(host_client, "2000-01-01T00:00:00Z", "a" * 64)

    assert before.status_code == 422 and "last_refresh" in before.json()["errors"]
    assert at.status_code == 200


@time_machine.travel("2026-11-20T12:00:00Z", tick=False)
def test_it_refuses_times_more_than_five_minutes_ahead(host_client):
    inside = retrieve(host_client, "2026-11-20T12:05:00Z", "a" * 64)
    outside = retrieve(host_client, "2026-11-20T12:05:00.000000001Z", "a" * 64)

    assert inside.status_code == 200
    assert outside.status_code == 422
    assert outside.json()["errors"]["last_refresh"] == [
        "Must not be more than 5 minutes in the future."
    ]


@pytest.mark.parametrize("digest", ["", "abc", "g" * 64, "a" * 63, "a" * 65, None, 7])
def test_it_refuses_a_digest_that_is_not_64_hex(host_client, digest):
    response = retrieve(host_client, CANONICAL_AT, digest)

    assert response.status_code == 422
    assert "digest" in response.json()["errors"]


@pytest.mark.parametrize("command", [None, "", "fetch", "RETRIEVE"])
def test_it_refuses_an_unknown_command(host_client, command):
    response = host_client.post(
        "/auth",
        {"command": command, "last_refresh": CANONICAL_AT, "digest": "a" * 64},
        format="json",
    )

    assert response.status_code == 422
    assert response.json()["errors"] == {"command": ['Must be "retrieve" or "store".']}


def test_it_refuses_a_body_that_is_not_an_object(host_client):
    response = host_client.post("/auth", ["retrieve"], format="json")

    assert response.status_code == 422
    assert response.json()["status"] == "error"


def test_it_answers_malformed_json_in_the_fleet_dialect(host_client):
    response = host_client.post("/auth", "{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"status": "error", "message": "Malformed JSON body."}
