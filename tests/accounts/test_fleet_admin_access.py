"""FleetAdminAccess (`/admin/*` JSON): an admin token, or the mTLS header from a trusted proxy
plus DASHBOARD_ADMIN_KEY when one is set."""

from __future__ import annotations

import pytest
from django.test import override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.probe_urls")]

PATH = "/admin/probe/fleet-admin"
PROXY = "127.0.0.1"
STRANGER = "203.0.113.9"
ADMIN_KEY = "k3y-for-the-dashboard-0123456789"


@pytest.fixture(autouse=True)
def _proxy_on_loopback(settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]  # nothing is trusted by default


def get(client_for, *, peer: str = PROXY, token: str | None = None, **headers):
    client = client_for(token)
    return client.get(PATH, REMOTE_ADDR=peer, **headers)


def test_it_lets_an_admin_token_in_from_anywhere(client_for, admin_token):
    response = get(client_for, peer=STRANGER, token=admin_token)
    assert response.status_code == 200
    assert response.json()["actor"].startswith("token:")


@pytest.mark.parametrize("fixture", ["read_token", "alice_ingest_token", "embed_token"])
def test_it_refuses_other_scopes_in_the_fleet_dialect(client_for, request, fixture):
    response = get(client_for, peer=STRANGER, token=request.getfixturevalue(fixture))
    assert response.status_code == 403
    assert response.json() == {
        "status": "error",
        "message": "Admin access requires mTLS or an admin token.",
    }


def test_it_refuses_no_credential_in_the_fleet_dialect(client_for):
    response = get(client_for, peer=STRANGER)
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == "error" and body["message"]


@pytest.mark.parametrize("value", ["1", "true", "SUCCESS", "CN=ops,O=team"])
def test_it_lets_the_mtls_header_in_from_a_trusted_proxy(client_for, value):
    assert get(client_for, HTTP_X_MTLS_PRESENT=value).status_code == 200


@pytest.mark.parametrize("value", ["", "0", "false", "NONE", "FAILED:certificate has expired"])
def test_it_reads_a_negative_mtls_header_as_absent(client_for, value):
    assert get(client_for, HTTP_X_MTLS_PRESENT=value).status_code == 401


def test_it_ignores_the_mtls_header_from_an_untrusted_peer(client_for):
    assert get(client_for, peer=STRANGER, HTTP_X_MTLS_PRESENT="1").status_code == 401
    # Claiming to come through the proxy does not help.
    forged = get(client_for, peer=STRANGER, HTTP_X_MTLS_PRESENT="1", HTTP_X_FORWARDED_FOR=PROXY)
    assert forged.status_code == 401


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_it_trusts_exactly_the_configured_proxies(client_for):
    assert get(client_for, peer="10.1.2.3", HTTP_X_MTLS_PRESENT="1").status_code == 200
    assert get(client_for, peer="127.0.0.1", HTTP_X_MTLS_PRESENT="1").status_code == 401


@override_settings(ADMIN_MTLS_HEADER="X-Client-Verified")
def test_it_reads_the_configured_header_name(client_for):
    assert get(client_for, HTTP_X_CLIENT_VERIFIED="SUCCESS").status_code == 200
    assert get(client_for, HTTP_X_MTLS_PRESENT="1").status_code == 401


@override_settings(DASHBOARD_ADMIN_KEY=ADMIN_KEY)
def test_it_also_needs_the_admin_key_when_one_is_set(client_for):
    assert get(client_for, HTTP_X_MTLS_PRESENT="1").status_code == 401
    assert get(client_for, HTTP_X_MTLS_PRESENT="1", HTTP_X_ADMIN_KEY="wrong").status_code == 401
    assert get(client_for, HTTP_X_MTLS_PRESENT="1", HTTP_X_ADMIN_KEY=ADMIN_KEY).status_code == 200
    bearer = get(client_for, HTTP_X_MTLS_PRESENT="1", HTTP_AUTHORIZATION=f"Bearer {ADMIN_KEY}")
    assert bearer.status_code == 200


@override_settings(DASHBOARD_ADMIN_KEY=ADMIN_KEY)
def test_it_never_accepts_the_admin_key_without_mtls(client_for):
    assert get(client_for, HTTP_X_ADMIN_KEY=ADMIN_KEY).status_code == 401
    assert get(client_for, peer=STRANGER, HTTP_X_ADMIN_KEY=ADMIN_KEY).status_code == 401
    untrusted = get(client_for, peer=STRANGER, HTTP_X_MTLS_PRESENT="1", HTTP_X_ADMIN_KEY=ADMIN_KEY)
    assert untrusted.status_code == 401


@override_settings(DASHBOARD_ADMIN_KEY=ADMIN_KEY)
def test_it_still_lets_an_admin_token_in_without_mtls_or_key(client_for, admin_token):
    assert get(client_for, peer=STRANGER, token=admin_token).status_code == 200
