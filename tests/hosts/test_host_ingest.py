"""A host key is an ingest credential: its rows belong to the host whatever the body says."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from hosts.models import Host, HostStatus
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db

URL = "/api/ingest/messages"


def _batch(machine: str | None = "spoofed-laptop", **extra) -> dict:
    body: dict = {
        "messages": [
            {
                "message_id": "msg_host_1",
                "model": "claude-sonnet-4-6",
                "input_tokens": 421,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 14093,
                "output_tokens": 612,
                "ts": int(time.time()) - 60,
            }
        ],
        **extra,
    }
    if machine is not None:
        body["machine"] = machine
    return body


def test_it_attributes_rows_to_the_host_owner_and_fqdn(host_client, host):
    response = host_client.post(URL, _batch(user="mallory"), format="json")
    assert response.status_code == 200, response.content
    assert response.json()["applied"] == 1
    row = UsageRecord.objects.get(message_id="msg_host_1")
    assert (row.user, row.machine, row.host_id) == ("alice", "build-01", host.pk)
    assert row.source == "claude"
    assert (row.input, row.cache_read, row.output) == (421, 14093, 612)


def test_it_needs_no_machine_in_the_body(host_client):
    response = host_client.post(URL, _batch(machine=None), format="json")
    assert response.status_code == 200, response.content
    assert UsageRecord.objects.get(message_id="msg_host_1").machine == "build-01"


def test_it_accepts_the_host_key_as_a_bearer_credential(host, host_key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {host_key}")
    assert client.post(URL, _batch(), format="json").status_code == 200
    assert UsageRecord.objects.get(message_id="msg_host_1").machine == "build-01"


def test_it_uses_the_fqdn_when_the_host_has_no_owner(host_client, host):
    Host.objects.filter(pk=host.pk).update(owner="")
    host_client.post(URL, _batch(), format="json")
    row = UsageRecord.objects.get(message_id="msg_host_1")
    assert (row.user, row.machine) == ("build-01", "build-01")


def test_it_follows_a_key_rotation(client_for, admin_token):
    registered = client_for(admin_token).post(
        "/admin/hosts/register", {"fqdn": "ci-runner-3", "owner": "ops"}, format="json"
    )
    first_key = registered.json()["data"]["host"]["api_key"]
    old = APIClient()
    old.credentials(HTTP_X_API_KEY=first_key)
    assert old.post(URL, _batch(), format="json").status_code == 200
    client_for(admin_token).post("/admin/hosts/register", {"fqdn": "ci-runner-3"}, format="json")
    refused = old.post(URL, _batch(), format="json")
    assert refused.status_code == 401
    assert refused.json()["error"] == "Invalid API key"
    row = UsageRecord.objects.get(message_id="msg_host_1")
    assert (row.user, row.machine) == ("ops", "ci-runner-3")


def test_it_applies_the_host_rules(host_client, host):
    Host.objects.filter(pk=host.pk).update(bound_ip="10.9.9.9")
    wrong_ip = host_client.post(URL, _batch(), format="json")
    assert wrong_ip.status_code == 403
    assert wrong_ip.json()["error"] == "API key not allowed from this IP"
    Host.objects.filter(pk=host.pk).update(bound_ip=None, status=HostStatus.DISABLED)
    disabled = host_client.post(URL, _batch(), format="json")
    assert disabled.status_code == 403
    assert disabled.json()["error"] == "Host is disabled"
    assert not UsageRecord.objects.exists()
