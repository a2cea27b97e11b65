"""Canonical auth bodies are encrypted at rest, and the Django admin never shows them."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from core.crypto import decrypt_text
from hosts.models import CanonicalAuth
from tests.hosts.conftest import ACCESS_TOKEN, REFRESH_TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(host_client, codex_auth) -> CanonicalAuth:
    response = host_client.post("/auth", {"command": "store", "auth": codex_auth()}, format="json")
    assert response.json()["data"]["status"] == "updated"
    return CanonicalAuth.objects.get(is_current=True)


def raw_rows() -> list[tuple]:
    """Every column of the table as the database holds it, bypassing the ORM."""
    table = connection.ops.quote_name(CanonicalAuth._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (a model's own table name)
        return cursor.fetchall()


def test_it_never_stores_a_token_in_clear(stored):
    everything = repr(raw_rows())

    assert ACCESS_TOKEN not in everything
    assert REFRESH_TOKEN not in everything
    assert "access_token" not in everything
    assert stored.ciphertext.startswith("gAAAA")  # a Fernet token


def test_it_decrypts_to_the_exact_stored_text(stored):
    text = decrypt_text(stored.ciphertext)

    assert json.loads(text)["tokens"]["access_token"] == ACCESS_TOKEN
    assert text.startswith('{"OPENAI_API_KEY":null,"tokens":{')


def test_it_refuses_to_decrypt_with_another_key(stored, settings):
    from core.crypto import DecryptionError

    settings.FIELD_ENCRYPTION_KEY = ["M2JtOWNhbGxlZC1hbm90aGVyLWtleS0wMTIzNDU2Nzg="]

    with pytest.raises(DecryptionError):
        decrypt_text(stored.ciphertext)


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_superuser("ops", "ops@team.test", None)
    client.force_login(user)
    return client


def test_the_admin_lists_and_shows_canonical_auth_without_the_body(staff_client, stored, host):
    listing = staff_client.get("/django-admin/hosts/canonicalauth/")
    detail = staff_client.get(f"/django-admin/hosts/canonicalauth/{stored.pk}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    page = detail.content.decode()
    assert stored.digest in page
    assert stored.ciphertext not in page and ACCESS_TOKEN not in page
    assert 'name="ciphertext"' not in page


@pytest.mark.parametrize(
    "model",
    [
        "host",
        "canonicalauth",
        "hostauthstate",
        "hostauthdigest",
        "installertoken",
        "slashcommand",
        "chatgptusagesnapshot",
        "clientversioncache",
        "fleetsetting",
    ],
)
def test_the_admin_registers_every_hosts_model(staff_client, stored, model):
    response = staff_client.get(f"/django-admin/hosts/{model}/")

    assert response.status_code == 200


def test_the_admin_never_offers_the_host_key_hash_for_editing(staff_client, host):
    page = staff_client.get(f"/django-admin/hosts/host/{host.pk}/change/").content.decode()

    assert host.api_key_hash not in page
    assert 'name="api_key_hash"' not in page
    assert 'name="owner"' in page and 'name="allow_roaming_ips"' in page


def test_the_admin_lets_staff_clear_a_binding_and_allow_roaming(staff_client, host, host_client):
    host_client.post(
        "/auth",
        {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64},
        format="json",
    )
    url = f"/django-admin/hosts/host/{host.pk}/change/"
    page = staff_client.get(url).content.decode()
    prefix = "auth_state"
    assert f'name="{prefix}-TOTAL_FORMS"' in page

    response = staff_client.post(
        url,
        {
            "owner": "alice",
            "status": "active",
            "allow_roaming_ips": "on",
            "bound_ip": "",
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-INITIAL_FORMS": "1",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1",
            f"{prefix}-0-id": str(host.auth_state.pk),
            f"{prefix}-0-host": str(host.pk),
            "recent_digests-TOTAL_FORMS": "1",
            "recent_digests-INITIAL_FORMS": "1",
            "recent_digests-MIN_NUM_FORMS": "0",
            "recent_digests-MAX_NUM_FORMS": "1000",
            "recent_digests-0-id": str(host.recent_digests.get().pk),
            "recent_digests-0-host": str(host.pk),
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    host.refresh_from_db()
    assert host.bound_ip is None and host.allow_roaming_ips is True
    assert host.api_key_hash  # untouched
