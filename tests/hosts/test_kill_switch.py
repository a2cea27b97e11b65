"""The kill switch: `GET/POST /admin/api/state`, and 503 on every host-facing route while on."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from hosts.models import Host

pytestmark = pytest.mark.django_db

DISABLED = {"status": "error", "message": "API disabled by administrator"}
RETRIEVE = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}


@pytest.fixture
def admin(client_for, admin_token) -> APIClient:
    return client_for(admin_token)


@pytest.fixture
def switched_off(admin):
    response = admin.post("/admin/api/state", {"api_disabled": True}, format="json")
    assert response.status_code == 200


def test_it_reports_the_api_enabled_by_default(admin):
    response = admin.get("/admin/api/state")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "data": {"api_disabled": False}}


def test_it_switches_the_api_off_and_on_and_audits_each_change(admin):
    off = admin.post("/admin/api/state", {"api_disabled": True}, format="json")
    state = admin.get("/admin/api/state").json()["data"]
    on = admin.post("/admin/api/state", {"api_disabled": False}, format="json")

    assert off.json()["data"] == {"api_disabled": True}
    assert state == {"api_disabled": True}
    assert on.json()["data"] == {"api_disabled": False}
    events = AuditEvent.objects.filter(action="api.state").order_by("id")
    assert [(e.meta["api_disabled"], e.meta["previous"]) for e in events] == [
        (True, False),
        (False, True),
    ]
    assert events[0].actor.startswith("token:") and events[0].actor.endswith(":root")


@pytest.mark.parametrize("value", ["true", 1, None, "yes"])
def test_it_refuses_a_state_that_is_not_a_boolean(admin, value):
    response = admin.post("/admin/api/state", {"api_disabled": value}, format="json")

    assert response.status_code == 422
    assert response.json()["errors"] == {"api_disabled": ["Must be true or false."]}
    assert not AuditEvent.objects.filter(action="api.state").exists()


def test_it_keeps_the_switch_from_non_admin_callers(client_for, read_token, host_client):
    as_reader = client_for(read_token).post(
        "/admin/api/state", {"api_disabled": True}, format="json"
    )
    as_host = host_client.post("/admin/api/state", {"api_disabled": True}, format="json")
    anonymous = APIClient(REMOTE_ADDR="198.51.100.1").get("/admin/api/state")

    assert as_reader.status_code == 403 and as_host.status_code == 403
    assert anonymous.status_code == 403
    assert as_reader.json()["status"] == "error"
    assert not AuditEvent.objects.filter(action="api.state").exists()


def test_it_lets_mtls_from_a_trusted_proxy_flip_the_switch(settings):
    settings.DASHBOARD_ADMIN_KEY = "operator-admin-key-0123456789"
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    proxy = APIClient(REMOTE_ADDR="127.0.0.1")
    headers: dict[str, Any] = {"HTTP_X_MTLS_PRESENT": "1"}

    without_key = proxy.post("/admin/api/state", {"api_disabled": True}, format="json", **headers)
    with_key = proxy.post(
        "/admin/api/state",
        {"api_disabled": True},
        format="json",
        HTTP_X_ADMIN_KEY="operator-admin-key-0123456789",
        **headers,
    )
    from_elsewhere = APIClient(REMOTE_ADDR="198.51.100.1").get(
        "/admin/api/state", HTTP_X_ADMIN_KEY="operator-admin-key-0123456789", **headers
    )

    assert without_key.status_code == 403
    assert with_key.status_code == 200 and with_key.json()["data"] == {"api_disabled": True}
    assert from_elsewhere.status_code == 403
    assert AuditEvent.objects.get(action="api.state").actor == "admin:mtls"


def test_it_answers_503_on_auth_while_disabled(switched_off, host, host_client):
    response = host_client.post("/auth", RETRIEVE, format="json")

    assert response.status_code == 503
    assert response.json() == DISABLED
    host.refresh_from_db()
    assert host.api_calls == 0 and host.bound_ip is None  # refused before authentication


def test_it_answers_503_even_without_a_key(switched_off):
    response = APIClient().post("/auth", RETRIEVE, format="json")

    assert response.status_code == 503
    assert response.json() == DISABLED


def test_it_answers_503_on_delete_auth_while_disabled(switched_off, host, host_client):
    response = host_client.delete("/auth?force=1")

    assert response.status_code == 503
    assert Host.objects.filter(pk=host.pk).exists()


def test_it_answers_503_on_versions_while_disabled(switched_off):
    response = APIClient().get("/versions")

    assert response.status_code == 503
    assert response.json() == DISABLED


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/wrapper", None),
        ("get", "/wrapper/download", None),
        ("get", "/slash-commands", None),
        ("post", "/slash-commands/retrieve", {"filename": "review.md"}),
        ("post", "/usage", {"line": "Token usage: total=10 input=5 output=5"}),
        ("get", "/install/not-a-token", None),
    ],
)
def test_it_answers_503_on_delivery_routes_while_disabled(
    switched_off, host_client, method, path, body
):
    response = getattr(host_client, method)(path, body, format="json")

    assert response.status_code == 503
    assert response.json() == DISABLED


def test_it_serves_hosts_again_once_switched_back_on(switched_off, admin, host_client):
    admin.post("/admin/api/state", {"api_disabled": False}, format="json")

    auth = host_client.post("/auth", RETRIEVE, format="json")
    wrapper = host_client.get("/wrapper")

    assert auth.status_code == 200 and auth.json()["data"]["status"] == "missing"
    assert wrapper.status_code == 200


def test_it_keeps_admin_routes_working_while_disabled(switched_off, admin):
    assert admin.get("/admin/api/state").json()["data"] == {"api_disabled": True}
    assert admin.get("/admin/chatgpt/usage").status_code == 200
