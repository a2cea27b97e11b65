"""`POST /auth` with `command: "store"`: the decision table, the digest rule, `auths` synthesis and
token quality. Digests are computed here independently of the server."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from django.db import connection

from accounts.models import AuditEvent
from core.crypto import decrypt_text
from core.hashing import secret_hint, sha256_hex
from hosts.models import CanonicalAuth, Host, HostAuthDigest, HostAuthState

pytestmark = pytest.mark.django_db

T0 = "2026-11-20T10:00:00.123456789Z"


def compact(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def sha256_of(obj: dict) -> str:
    return hashlib.sha256(compact(obj).encode("utf-8")).hexdigest()


def store(client, auth: dict, **extra):
    return client.post("/auth", {"command": "store", "auth": auth, **extra}, format="json")


def synthesised(auth: dict, token: str) -> dict:
    return {**auth, "auths": {"api.openai.com": {"token": token, "token_type": "bearer"}}}


def current() -> CanonicalAuth:
    return CanonicalAuth.objects.get(is_current=True)


def test_it_takes_the_first_upload_as_canonical(host, host_client, codex_auth):
    auth = codex_auth(T0)

    response = store(host_client, auth)

    assert response.status_code == 200
    data = response.json()["data"]
    expected = synthesised(auth, auth["tokens"]["access_token"])
    assert data["status"] == "updated"
    assert data["canonical_digest"] == sha256_of(expected)
    assert data["canonical_last_refresh"] == T0
    # The stored canonical comes back (as `outdated` does), so the host keeps the same bytes.
    assert data["auth"] == expected
    assert list(data["auth"]) == list(expected)
    assert sha256_of(data["auth"]) == data["canonical_digest"]
    row = current()
    assert row.source_host_id == host.pk and row.source == "host"
    assert row.last_refresh == T0
    assert row.last_refresh_ns == 1_795_168_800_123_456_789


def test_it_keeps_the_stored_json_text_byte_for_byte(host_client, codex_auth):
    # Unknown keys, their order and non-ASCII text survive; `auths` is appended last.
    auth = {
        "auth_mode": "chatgpt",
        "last_refresh": T0,
        "tokens": codex_auth()["tokens"],
        "note": "Jürgen’s laptop ✓",
        "OPENAI_API_KEY": None,
    }

    store(host_client, auth)

    expected = synthesised(auth, auth["tokens"]["access_token"])
    text = decrypt_text(current().ciphertext)
    assert text == compact(expected)
    assert list(json.loads(text)) == [
        "auth_mode",
        "last_refresh",
        "tokens",
        "note",
        "OPENAI_API_KEY",
        "auths",
    ]
    assert current().digest == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_it_replaces_the_canonical_with_a_newer_upload_and_keeps_every_version(
    host_client, codex_auth
):
    store(host_client, codex_auth(T0))
    newer = codex_auth("2026-11-20T10:00:00.12345679Z", access_token="eyJ" + "n" * 30 + "ewToken1")

    data = store(host_client, newer).json()["data"]

    assert data["status"] == "updated"
    assert data["canonical_last_refresh"] == "2026-11-20T10:00:00.12345679Z"
    assert data["canonical_digest"] == sha256_of(
        synthesised(newer, newer["tokens"]["access_token"])
    )
    assert CanonicalAuth.objects.count() == 2
    assert CanonicalAuth.objects.filter(is_current=True).count() == 1
    assert current().digest == data["canonical_digest"]


def test_it_answers_outdated_with_the_canonical_for_an_older_upload(host_client, codex_auth):
    canonical = codex_auth(T0)
    store(host_client, canonical)
    older = codex_auth("2026-11-20T10:00:00.123456788Z", access_token="eyJ" + "o" * 30 + "ldToken2")

    data = store(host_client, older).json()["data"]

    expected = synthesised(canonical, canonical["tokens"]["access_token"])
    assert data["status"] == "outdated"
    assert data["auth"] == expected
    assert sha256_of(data["auth"]) == data["canonical_digest"] == sha256_of(expected)
    assert CanonicalAuth.objects.count() == 1


def test_it_answers_unchanged_for_the_same_last_refresh(host_client, codex_auth):
    store(host_client, codex_auth(T0))
    # The same instant written with an offset is the same timestamp.
    same = codex_auth("2026-11-20T11:00:00.123456789+01:00")

    data = store(host_client, same).json()["data"]

    assert data["status"] == "unchanged"
    assert "auth" not in data
    assert CanonicalAuth.objects.count() == 1
    assert current().last_refresh == T0


def test_it_keeps_given_auths_as_they_are(host_client, codex_auth):
    auths = {
        "api.openai.com": {"token_type": "bearer", "token": "sk-proj-9fQ2xLm7Rt4Vb8Nc1Zk3"},
        "azure.example": {"token": "az-0123456789abcdefGHIJKL", "token_type": "bearer"},
    }
    auth = codex_auth(T0, auths=auths)

    store(host_client, auth)

    assert decrypt_text(current().ciphertext) == compact(auth)


@pytest.mark.parametrize("empty", [None, {}, []])
def test_it_synthesises_auths_from_the_access_token_when_missing_or_empty(
    host_client, codex_auth, empty
):
    auth = codex_auth(T0)
    auth["auths"] = empty  # in its original position; the synthesised one goes last

    store(host_client, auth)

    stored = json.loads(decrypt_text(current().ciphertext))
    assert list(stored)[-1] == "auths"
    assert stored["auths"] == {
        "api.openai.com": {"token": auth["tokens"]["access_token"], "token_type": "bearer"}
    }
    assert list(stored["auths"]["api.openai.com"]) == ["token", "token_type"]


def test_it_synthesises_auths_from_openai_api_key_without_chatgpt_tokens(host_client):
    auth = {"OPENAI_API_KEY": "sk-proj-4hT9qW2eR7yU1iO3pA8s", "last_refresh": T0}

    data = store(host_client, auth).json()["data"]

    expected = synthesised(auth, "sk-proj-4hT9qW2eR7yU1iO3pA8s")
    assert data["status"] == "updated"
    assert data["canonical_digest"] == sha256_of(expected)


def test_it_refuses_an_auth_without_any_token(host_client):
    response = store(host_client, {"OPENAI_API_KEY": None, "tokens": None, "last_refresh": T0})

    assert response.status_code == 422
    assert "auth.auths" in response.json()["errors"]
    assert not CanonicalAuth.objects.exists()


@pytest.mark.parametrize(
    "token, problem",
    [
        ("eyJshort.token", "at least 24"),
        ("eyJhbGciOiJSUzI1NiJ9 .eyJzdWIiOiIxIn0.c2ln", "whitespace"),
        ("abababababababababababababab", "distinct"),
        ("<your-access-token-goes-here>", "placeholder"),
        ("PLACEHOLDER_ACCESS_TOKEN_0123456789", "placeholder"),
        ("sk-proj-REDACTED-0123456789abc", "placeholder"),
        ("eyJhbGciOiJSUzI1NiJ9…truncated", "placeholder"),
    ],
)
def test_it_refuses_tokens_that_cannot_be_real(host_client, codex_auth, token, problem):
    response = store(host_client, codex_auth(T0, access_token=token))

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert problem in errors["auth.tokens.access_token"][0].lower()
    assert not CanonicalAuth.objects.exists()


def test_it_checks_tokens_in_given_auths_too(host_client, codex_auth):
    auth = codex_auth(T0, auths={"api.openai.com": {"token": "changeme", "token_type": "bearer"}})

    response = store(host_client, auth)

    assert response.status_code == 422
    assert "auth.auths.api.openai.com.token" in response.json()["errors"]


@pytest.mark.parametrize("auth", [None, "{}", ["x"], 5])
def test_it_refuses_an_auth_that_is_not_an_object(host_client, auth):
    response = store(host_client, auth)

    assert response.status_code == 422
    assert "auth" in response.json()["errors"]


@pytest.mark.parametrize(
    "last_refresh", [None, "2026-11-20", "1999-12-31T23:59:59Z", "2999-01-01T00:00:00Z"]
)
def test_it_refuses_a_bad_last_refresh_inside_auth(host_client, codex_auth, last_refresh):
    response = store(host_client, codex_auth(last_refresh))

    assert response.status_code == 422
    assert "auth.last_refresh" in response.json()["errors"]


def test_it_accepts_an_optional_digest_but_refuses_a_malformed_one(host_client, codex_auth):
    bad = store(host_client, codex_auth(T0), digest="nope")
    good = store(host_client, codex_auth(T0), digest=sha256_of(codex_auth(T0)))

    assert bad.status_code == 422 and "digest" in bad.json()["errors"]
    assert good.status_code == 200


def test_it_audits_changes_with_digests_and_never_tokens(host, host_client, codex_auth):
    auth = codex_auth(T0)
    store(host_client, auth)
    store(host_client, auth)  # unchanged: nothing to audit
    store(host_client, codex_auth("2026-11-19T00:00:00Z"))  # outdated

    events = list(AuditEvent.objects.filter(action="auth.store").order_by("id"))
    assert [event.meta["status"] for event in events] == ["updated", "outdated"]
    first = events[0]
    assert first.actor == "host:build-01" and first.ip == "127.0.0.1"
    assert first.meta["digest"] == sha256_of(synthesised(auth, auth["tokens"]["access_token"]))
    assert first.meta["last_refresh"] == T0
    everything = json.dumps([event.meta for event in AuditEvent.objects.all()])
    for secret in (
        auth["tokens"]["access_token"],
        auth["tokens"]["refresh_token"],
        auth["tokens"]["id_token"],
    ):
        assert secret not in everything


def test_it_records_host_state_and_recent_digests_for_stores(host, host_client, codex_auth):
    stamps = [
        "2026-11-20T10:00:01Z",
        "2026-11-20T10:00:02Z",
        "2026-11-20T10:00:03Z",
        "2026-11-20T10:00:04Z",
    ]
    digests = []
    for stamp in stamps:
        auth = codex_auth(stamp)
        store(host_client, auth)
        digests.append(sha256_of(synthesised(auth, auth["tokens"]["access_token"])))

    state = HostAuthState.objects.get(host=host)
    assert (state.last_status, state.digest, state.last_refresh) == (
        "updated",
        digests[-1],
        stamps[-1],
    )
    recent = list(HostAuthDigest.objects.filter(host=host).values_list("digest", flat=True))
    assert recent == digests[::-1][:3]


def test_it_tells_a_second_host_with_an_older_login_to_take_the_canonical(
    host_client, codex_auth, api_client
):
    store(host_client, codex_auth(T0))
    other_key = "hk_" + "Other02TestKeyZyXwVuTsRqPoNmLkJiHgFeDc98"
    Host.objects.create(
        fqdn="build-02",
        owner="bob",
        api_key_hash=sha256_hex(other_key),
        api_key_hint=secret_hint(other_key),
    )
    api_client.credentials(HTTP_X_API_KEY=other_key)

    data = store(api_client, codex_auth("2026-11-01T00:00:00Z")).json()["data"]

    assert data["status"] == "outdated"
    assert data["auth"]["last_refresh"] == T0
    assert data["host"]["fqdn"] == "build-02"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent writers (PostgreSQL)"
)
def test_it_lets_only_one_of_two_concurrent_newer_stores_become_current(host, host_key, codex_auth):
    from django.db import connections
    from rest_framework.test import APIClient

    base = codex_auth("2026-11-20T09:00:00Z")
    store_client = APIClient(REMOTE_ADDR="127.0.0.1")
    store_client.credentials(HTTP_X_API_KEY=host_key)
    store(store_client, base)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def racer(stamp: str, token: str) -> None:
        client = APIClient(REMOTE_ADDR="127.0.0.1")
        client.credentials(HTTP_X_API_KEY=host_key)
        try:
            barrier.wait(timeout=10)
            response = store(client, codex_auth(stamp, access_token=token))
            results.append(response.json()["data"]["status"])
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=racer, args=("2026-11-20T10:00:00Z", "eyJ" + "a1" * 15 + "Racer1")),
        threading.Thread(target=racer, args=("2026-11-20T10:00:00Z", "eyJ" + "b2" * 15 + "Racer2")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Same newer timestamp from both: the first wins, the second sees it as unchanged.
    assert sorted(results) == ["unchanged", "updated"]
    assert CanonicalAuth.objects.filter(is_current=True).count() == 1
    assert CanonicalAuth.objects.count() == 2
