"""POST /admin/hosts/register: create a host or rotate its key, and mint an installer link."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from core.crypto import decrypt_text
from core.hashing import sha256_hex
from hosts.models import Host, InstallerToken

pytestmark = pytest.mark.django_db

URL = "/admin/hosts/register"


def _register(client: APIClient, **body):
    return client.post(URL, body, format="json")


def test_it_creates_a_host_with_a_key_shown_once_and_an_installer(client_for, admin_token):
    with override_settings(PUBLIC_BASE_URL="https://fleet.example.com", INSTALL_TOKEN_TTL=1800):
        now = timezone.now()
        response = _register(client_for(admin_token), fqdn="Build-02.Example.com", owner="bob")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "ok"
    data = body["data"]
    host = Host.objects.get(pk=data["host"]["id"])
    assert host.fqdn == "build-02.example.com" == data["host"]["fqdn"]
    assert data["host"]["owner"] == "bob"
    assert data["host"]["status"] == "active"
    assert data["host"]["allow_roaming_ips"] is False
    assert data["rotated"] is False
    api_key = data["host"]["api_key"]
    assert host.api_key_hash == sha256_hex(api_key)
    assert api_key not in str(Host.objects.filter(pk=host.pk).values().first())

    installer = data["installer"]
    assert installer["url"] == f"https://fleet.example.com/install/{installer['token']}"
    assert installer["command"] == f'curl -fsSL "{installer["url"]}" | bash'
    row = InstallerToken.objects.get(token_hash=sha256_hex(installer["token"]))
    assert row.host_id == host.pk and row.used_at is None
    assert decrypt_text(row.pending_key_ciphertext) == api_key
    assert api_key not in row.pending_key_ciphertext
    assert timedelta(seconds=1790) < row.expires_at - now < timedelta(seconds=1810)
    assert installer["expires_at"].endswith("Z")

    event = AuditEvent.objects.get(action="host.register")
    assert event.meta["fqdn"] == "build-02.example.com"
    assert api_key not in str(event.meta) and installer["token"] not in str(event.meta)


def test_it_rotates_the_key_of_an_existing_fqdn(client_for, admin_token):
    admin = client_for(admin_token)
    first = _register(admin, fqdn="build-03", owner="carol").json()["data"]
    old_key = first["host"]["api_key"]
    Host.objects.filter(pk=first["host"]["id"]).update(bound_ip="10.0.0.7")

    old = APIClient(REMOTE_ADDR="10.0.0.7")
    old.credentials(HTTP_X_API_KEY=old_key)
    assert old.get("/wrapper").status_code == 200

    second = _register(admin, fqdn="build-03")
    assert second.status_code == 201
    data = second.json()["data"]
    assert data["rotated"] is True
    assert data["host"]["id"] == first["host"]["id"]
    assert data["host"]["owner"] == "carol"  # kept when the call names no owner
    new_key = data["host"]["api_key"]
    assert new_key != old_key
    assert Host.objects.count() == 1

    # Rotation clears the IP binding, so the new install binds afresh from wherever it runs.
    host = Host.objects.get(pk=data["host"]["id"])
    assert host.bound_ip is None and data["host"]["bound_ip"] is None

    refused = old.get("/wrapper")
    assert refused.status_code == 401
    assert refused.json() == {"status": "error", "message": "Invalid API key"}
    fresh = APIClient(REMOTE_ADDR="10.0.0.99")
    fresh.credentials(HTTP_X_API_KEY=new_key)
    assert fresh.get("/wrapper").status_code == 200
    host.refresh_from_db()
    assert host.bound_ip == "10.0.0.99"

    event = AuditEvent.objects.get(action="host.rotate")
    assert event.meta["previous_bound_ip"] == "10.0.0.7"
    assert old_key not in str(event.meta) and new_key not in str(event.meta)


def test_it_voids_earlier_unused_installer_links_on_rotation(client_for, admin_token):
    admin = client_for(admin_token)
    first = _register(admin, fqdn="build-04").json()["data"]["installer"]["token"]
    second = _register(admin, fqdn="build-04").json()["data"]["installer"]["token"]
    assert APIClient().get(f"/install/{first}").status_code == 410
    assert APIClient().get(f"/install/{second}").status_code == 200
    voided = InstallerToken.objects.get(token_hash=sha256_hex(first))
    assert voided.pending_key_ciphertext == ""


def test_it_updates_the_owner_when_rotation_names_one(client_for, admin_token):
    admin = client_for(admin_token)
    _register(admin, fqdn="build-05", owner="dave")
    data = _register(admin, fqdn="build-05", owner="erin").json()["data"]
    assert data["host"]["owner"] == "erin"
    assert Host.objects.get(fqdn="build-05").usage_user == "erin"


@pytest.mark.parametrize(
    "fqdn",
    [
        "",
        "bad host",
        "host;rm -rf /",
        "host'quote",
        'host"quote',
        "$(whoami).example.com",
        "a..b",
        ".leading.dot",
        "trailing.dot.",
        "-dash.example.com",
        "under_score.example.com",
        "x" * 64 + ".example.com",
        ".".join(["abcdefghi"] * 26),  # 259 characters
        "host\n.example.com",
    ],
)
def test_it_refuses_what_is_not_a_dns_name(client_for, admin_token, fqdn):
    response = _register(client_for(admin_token), fqdn=fqdn)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == "error" and "fqdn" in body["errors"]
    assert Host.objects.count() == 0 and InstallerToken.objects.count() == 0


def test_it_accepts_a_name_of_exactly_253_characters(client_for, admin_token):
    fqdn = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
    assert len(fqdn) == 253
    assert _register(client_for(admin_token), fqdn=fqdn).status_code == 201


def test_it_needs_admin_access(client_for, alice_ingest_token, admin_token):
    anonymous = _register(APIClient(), fqdn="build-06")
    assert anonymous.status_code == 403
    assert anonymous.json()["status"] == "error"
    assert _register(client_for(alice_ingest_token), fqdn="build-06").status_code == 403
    assert Host.objects.count() == 0


def test_it_accepts_mtls_from_a_trusted_proxy_with_the_admin_key():
    with override_settings(
        DASHBOARD_ADMIN_KEY="operator-secret-key", TRUSTED_PROXIES=["127.0.0.1/32"]
    ):
        proxy = APIClient(REMOTE_ADDR="127.0.0.1", HTTP_X_MTLS_PRESENT="1")
        assert _register(proxy, fqdn="build-07").status_code == 403
        proxy.credentials(HTTP_X_ADMIN_KEY="operator-secret-key")
        assert _register(proxy, fqdn="build-07").status_code == 201
        stranger = APIClient(
            REMOTE_ADDR="203.0.113.5",
            HTTP_X_MTLS_PRESENT="1",
            HTTP_X_ADMIN_KEY="operator-secret-key",
        )
        assert _register(stranger, fqdn="build-08").status_code == 403
    # The same actor as every other admin change made over mTLS.
    assert AuditEvent.objects.get(action="host.register").actor == "admin:mtls"


def test_it_expires_the_installer_after_the_configured_ttl(client_for, admin_token):
    with (
        override_settings(INSTALL_TOKEN_TTL=60),
        time_machine.travel("2026-11-20 10:00:00Z", tick=False),
    ):
        token = _register(client_for(admin_token), fqdn="build-09").json()["data"]["installer"][
            "token"
        ]
    with time_machine.travel("2026-11-20 10:01:01Z", tick=False):
        assert APIClient().get(f"/install/{token}").status_code == 410
