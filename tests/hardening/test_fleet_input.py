"""Issue 9 findings on the fleet dialect: each test failed (500, a lost batch, a taken-over
login) before."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from accounts.models import AuditEvent
from core.hashing import secret_hint, sha256_hex
from hosts.models import CanonicalAuth, Host
from tests.hosts.conftest import ACCESS_TOKEN, ID_TOKEN
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

T0 = "2026-11-20T10:00:00.123456789Z"
T1 = "2026-11-20T11:00:00Z"
OTHER_KEY = "hk_" + "OtherHostKeyAbCdEfGhIjKlMnOpQrStUvWx1234"


def jwt(claims: dict) -> str:
    """A JWT-shaped token (header.payload.signature) whose payload carries `claims`."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = part(b'{"alg":"RS256","typ":"JWT"}')
    return f"{header}.{part(json.dumps(claims).encode())}.{part(b'signature-bytes-0123')}"


def account_tokens(account: str) -> dict:
    claim = {"https://api.openai.com/auth": {"chatgpt_account_id": account}}
    return {
        "id_token": jwt({"email": "fleet@team.test", **claim}),
        "access_token": jwt({"sub": "auth0|fleet", **claim}),
        "refresh_token": "rt_Q2xpZW50UmVmcmVzaFRva2VuLTAwMQ",
        "account_id": account,
    }


def store(client, auth: dict, **extra):
    return client.post("/auth", {"command": "store", "auth": auth, **extra}, format="json")


@pytest.fixture
def other_client(db):
    """A second host, `build-02`, on its own IP."""
    from rest_framework.test import APIClient

    Host.objects.create(
        fqdn="build-02",
        owner="bob",
        api_key_hash=sha256_hex(OTHER_KEY),
        api_key_hint=secret_hint(OTHER_KEY),
    )
    client = APIClient(REMOTE_ADDR="127.0.0.2")
    client.credentials(HTTP_X_API_KEY=OTHER_KEY)
    return client


def test_it_refuses_a_login_of_another_chatgpt_account(host_client, other_client, codex_auth):
    genuine = {**codex_auth(T0), "tokens": account_tokens("acct-fleet")}
    assert store(host_client, genuine).json()["data"]["status"] == "updated"
    planted = {**codex_auth(T1), "tokens": account_tokens("acct-attacker")}

    response = store(other_client, planted)

    assert response.status_code == 409
    body = response.json()
    assert body["status"] == "error" and "auth.tokens" in body["errors"]
    assert CanonicalAuth.objects.get(is_current=True).last_refresh == T0
    refused = AuditEvent.objects.get(action="auth.store_refused")
    assert refused.meta["reason"] == "account_changed"
    # The genuine host's next refresh still goes through.
    later = {**codex_auth("2026-11-20T12:00:00Z"), "tokens": account_tokens("acct-fleet")}
    assert store(host_client, later).json()["data"]["status"] == "updated"


def test_it_refuses_tokens_that_disagree_about_the_account(host_client, codex_auth):
    tokens = {**account_tokens("acct-a"), "account_id": "acct-b"}

    response = store(host_client, {**codex_auth(T0), "tokens": tokens})

    assert response.status_code == 422
    assert "auth.tokens" in response.json()["errors"]


@pytest.mark.parametrize(
    "offered_key", ["sk-proj-AddedKey0123456789abcdefXYZ", "sk-proj-ChangedKey0123456789abcdXYZ"]
)
def test_it_refuses_adding_or_changing_openai_api_key(
    host_client, other_client, codex_auth, offered_key
):
    first_key = None if "Added" in offered_key else "sk-proj-FirstKey0123456789abcdefXYZ"
    assert store(host_client, codex_auth(T0, api_key=first_key)).status_code == 200

    response = store(other_client, codex_auth(T1, api_key=offered_key))

    assert response.status_code == 409
    assert "auth.OPENAI_API_KEY" in response.json()["errors"]
    assert CanonicalAuth.objects.get(is_current=True).last_refresh == T0


def test_it_refuses_a_last_refresh_later_than_the_server_clock(host_client, codex_auth):
    ahead = (datetime.now(UTC) + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    response = store(host_client, codex_auth(ahead))

    assert response.status_code == 422
    assert response.json()["errors"]["auth.last_refresh"] == [
        "Must not be later than the server's clock."
    ]
    assert not CanonicalAuth.objects.exists()


def test_it_records_a_same_timestamp_store_with_another_digest_as_a_conflict(
    host_client, other_client, codex_auth
):
    store(host_client, codex_auth(T0))

    response = store(other_client, codex_auth(T0, access_token=ACCESS_TOKEN[:-4] + "ZZZZ"))

    assert response.json()["data"]["status"] == "unchanged"
    conflict = AuditEvent.objects.get(action="auth.conflict")
    assert conflict.meta["digest"] != conflict.meta["canonical_digest"]
    assert conflict.meta["fqdn"] == "build-02"
    # The same login again is not a conflict.
    store(host_client, codex_auth(T0))
    assert AuditEvent.objects.filter(action="auth.conflict").count() == 1


@pytest.mark.parametrize("year", ["0000", "1999", "2100", "9999"])
def test_it_refuses_last_refresh_outside_2000_to_2100(host_client, codex_auth, year):
    stamp = f"{year}-01-01T00:00:00Z"

    for body in (
        {"command": "store", "auth": codex_auth(stamp)},
        {"command": "retrieve", "last_refresh": stamp, "digest": "a" * 64},
    ):
        response = host_client.post("/auth", body, format="json")
        assert response.status_code == 422, body["command"]


@pytest.mark.parametrize("bad", ["\u0000", "\ud800"])
def test_it_refuses_unstorable_text_inside_auth_json(host_client, codex_auth, bad):
    auth = codex_auth(T0, extra_field=f"x{bad}y")

    response = host_client.post(
        "/auth",
        data=json.dumps({"command": "store", "auth": auth}),
        content_type="application/json",
    )

    assert response.status_code == 422
    assert "auth.extra_field" in response.json()["errors"]


def test_it_drops_unstorable_version_reports_and_keeps_the_auth_exchange(
    host, host_client, codex_auth
):
    body = {
        "command": "store",
        "auth": codex_auth(T0),
        "client_version": "0.58\u0000",
        "wrapper_version": "\udfff",
    }
    response = host_client.post("/auth", data=json.dumps(body), content_type="application/json")

    assert response.status_code == 200
    assert response.json()["data"]["status"] == "updated"
    host.refresh_from_db()
    assert host.client_version in ("", None) and host.wrapper_version in ("", None)


def test_it_stores_every_good_usage_entry_of_a_batch_with_a_bad_one(host_client):
    entries = [{"id": f"e{index}", "input": index + 1} for index in range(5)]
    entries.insert(2, {"id": "bad\u0000", "input": 1})
    entries.insert(4, {"line": "Token usage: total=5 input=5", "model": "gpt\ud800"})
    entries.append({"line": "Token usage: total=99999999999999999999 input=1"})
    body = json.dumps({"usages": entries})

    for _attempt in range(2):
        response = host_client.post("/usage", data=body, content_type="application/json")
        assert response.status_code == 200
        data = response.json()["data"]
        assert [item["index"] for item in data["rejected"]] == [2, 4, 7]
        assert set(data["rejected"][0]["errors"]) == {"usages.2.id"}
        assert set(data["rejected"][1]["errors"]) == {"usages.4.model"}

    assert UsageRecord.objects.count() == 5
    assert AuditEvent.objects.filter(action="token.usage_rejected").count() == 2


def test_it_answers_422_for_a_single_bad_usage_entry(host_client):
    response = host_client.post(
        "/usage", data=json.dumps({"line": "x\u0000", "input": 1}), content_type="application/json"
    )

    assert response.status_code == 422
    assert "line" in response.json()["errors"]


def test_it_does_not_confuse_the_fixture_tokens_with_accounts(host_client, codex_auth):
    # The shared cast's tokens carry no account claim: two of its logins are the same login.
    assert (
        "chatgpt_account_id" not in base64.urlsafe_b64decode(ID_TOKEN.split(".")[1] + "==").decode()
    )
    assert store(host_client, codex_auth(T0)).status_code == 200
    assert store(host_client, codex_auth(T1)).json()["data"]["status"] == "updated"
