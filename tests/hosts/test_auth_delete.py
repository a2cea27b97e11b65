"""`DELETE /auth`: the host deregisters itself; the IP rule holds unless `?force=1`."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from hosts.models import Host, HostAuthDigest, HostAuthState

pytestmark = pytest.mark.django_db

RETRIEVE = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}


@pytest.fixture
def roamed_client(host, host_key) -> APIClient:
    """build-01 bound to 203.0.113.5, calling from 198.51.100.20."""
    Host.objects.filter(pk=host.pk).update(bound_ip="203.0.113.5")
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    client.credentials(HTTP_X_API_KEY=host_key)
    return client


def test_it_deletes_the_calling_host_with_its_state(host, host_client):
    host_client.post("/auth", RETRIEVE, format="json")
    assert HostAuthState.objects.filter(host=host).exists()

    response = host_client.delete("/auth")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "data": {"deleted": "build-01"}}
    assert not Host.objects.filter(fqdn="build-01").exists()
    assert not HostAuthState.objects.exists() and not HostAuthDigest.objects.exists()
    event = AuditEvent.objects.get(action="host.delete")
    assert event.actor == "host:build-01"
    assert event.meta["fqdn"] == "build-01" and event.meta["force"] is False


def test_it_forgets_the_key_once_deleted(host_client):
    host_client.delete("/auth")

    response = host_client.post("/auth", RETRIEVE, format="json")

    assert response.status_code == 401
    assert response.json()["message"] == "Invalid API key"


def test_it_refuses_a_delete_from_another_ip_without_force(host, roamed_client):
    response = roamed_client.delete("/auth")

    assert response.status_code == 403
    assert response.json() == {"status": "error", "message": "API key not allowed from this IP"}
    assert Host.objects.filter(pk=host.pk).exists()
    assert not AuditEvent.objects.filter(action="host.delete").exists()


@pytest.mark.parametrize("flag", ["1", "true"])
def test_it_lets_force_override_the_ip_rule_for_delete(host, roamed_client, flag):
    response = roamed_client.delete(f"/auth?force={flag}")

    assert response.status_code == 200
    assert response.json()["data"] == {"deleted": "build-01"}
    assert not Host.objects.filter(pk=host.pk).exists()
    override = AuditEvent.objects.get(action="auth.force_ip_override")
    assert override.ip == "198.51.100.20"
    assert override.meta["bound_ip"] == "203.0.113.5"
    deleted = AuditEvent.objects.get(action="host.delete")
    assert deleted.meta["force"] is True and deleted.ip == "198.51.100.20"


@pytest.mark.parametrize("flag", ["0", "", "no"])
def test_it_does_not_treat_other_values_as_force(host, roamed_client, flag):
    response = roamed_client.delete(f"/auth?force={flag}")

    assert response.status_code == 403
    assert Host.objects.filter(pk=host.pk).exists()


def test_it_never_lets_force_override_the_ip_rule_for_post(host, roamed_client):
    response = roamed_client.post("/auth?force=1", RETRIEVE, format="json")

    assert response.status_code == 403
    assert response.json()["message"] == "API key not allowed from this IP"
    assert not AuditEvent.objects.filter(action="auth.force_ip_override").exists()


def test_it_refuses_a_forced_delete_of_a_disabled_host(host, roamed_client):
    Host.objects.filter(pk=host.pk).update(status="disabled")

    response = roamed_client.delete("/auth?force=1")

    assert response.status_code == 403
    assert response.json()["message"] == "Host is disabled"
    host.refresh_from_db()
    assert host.bound_ip == "203.0.113.5"


def test_it_requires_a_key_to_delete(host):
    response = APIClient().delete("/auth?force=1")

    assert response.status_code == 401
    assert response.json()["message"] == "API key missing"
    assert Host.objects.filter(pk=host.pk).exists()
