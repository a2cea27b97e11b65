"""The 401/403 answers deployed `cdx` clients branch on: envelope and messages verbatim."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from hosts.models import Host, HostStatus
from hosts.services import host_calls_pending

pytestmark = pytest.mark.django_db

RETRIEVE = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}


def post_auth(client: APIClient):
    return client.post("/auth", RETRIEVE, format="json")


def test_it_answers_401_api_key_missing_without_a_key(host):
    response = post_auth(APIClient())

    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "API key missing"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_answers_401_api_key_missing_for_a_scoped_token(host, admin_token, client_for):
    # Scoped `w?_` tokens are not host keys; /auth is for hosts only.
    response = post_auth(client_for(admin_token))

    assert response.status_code == 401
    assert response.json()["message"] == "API key missing"


def test_it_answers_401_invalid_api_key_for_an_unknown_key(host):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY="hk_" + "Z" * 20 + "unknownKey0123456789")

    response = post_auth(client)

    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "Invalid API key"}
    assert AuditEvent.objects.filter(action="auth.failed").exists()


def test_it_accepts_the_host_key_as_a_bearer_credential(host, host_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {host_key}")

    response = post_auth(client)

    assert response.status_code == 200
    assert response.json()["data"]["host"]["fqdn"] == "build-01"


def test_it_answers_403_host_is_disabled(host, host_client):
    Host.objects.filter(pk=host.pk).update(status=HostStatus.DISABLED)

    response = post_auth(host_client)

    assert response.status_code == 403
    assert response.json() == {"status": "error", "message": "Host is disabled"}


def test_it_answers_403_api_key_not_allowed_from_this_ip(host, host_client):
    Host.objects.filter(pk=host.pk).update(bound_ip="192.0.2.10")

    response = post_auth(host_client)

    assert response.status_code == 403
    assert response.json() == {"status": "error", "message": "API key not allowed from this IP"}


def test_it_counts_api_calls_only_for_accepted_requests(host, host_client):
    post_auth(host_client)
    data = post_auth(host_client).json()["data"]
    Host.objects.filter(pk=host.pk).update(bound_ip="192.0.2.10")
    post_auth(host_client)  # refused

    assert data["api_calls"] == 2
    host.refresh_from_db()
    # The row is written at most once a minute; the rest waits in the cache counter.
    assert host.api_calls + host_calls_pending([host.pk]).get(host.pk, 0) == 2


def test_it_writes_the_call_count_to_the_row_at_most_once_a_minute(host, host_client):
    from datetime import UTC, datetime, timedelta

    import time_machine

    with time_machine.travel(datetime(2026, 11, 20, 12, tzinfo=UTC), tick=False) as clock:
        for _ in range(3):
            post_auth(host_client)
        host.refresh_from_db()
        assert (host.api_calls, host_calls_pending([host.pk])[host.pk]) == (1, 2)
        clock.shift(timedelta(minutes=1))
        data = post_auth(host_client).json()["data"]

    host.refresh_from_db()
    assert data["api_calls"] == host.api_calls == 4
    assert host_calls_pending([host.pk])[host.pk] == 0
    assert host.last_seen_at == datetime(2026, 11, 20, 12, 1, tzinfo=UTC)
