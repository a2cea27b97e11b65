"""IP binding: first call binds, a new IP is refused unless the host roams (rebind) or it is
`DELETE /auth?force=1`; the client IP comes through trusted proxies only. Each case audited."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from hosts.models import Host

pytestmark = pytest.mark.django_db

RETRIEVE = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}
WRONG_IP = {"status": "error", "message": "API key not allowed from this IP"}


@pytest.fixture
def from_ip(host_key):
    """`from_ip(remote_addr, forwarded_for=None)` → a client for build-01 from that peer."""

    def make(remote_addr: str, forwarded_for: str | None = None) -> APIClient:
        client = APIClient(REMOTE_ADDR=remote_addr)
        headers = {"HTTP_X_API_KEY": host_key}
        if forwarded_for is not None:
            headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
        client.credentials(**headers)
        return client

    return make


def call(client: APIClient):
    return client.post("/auth", RETRIEVE, format="json")


def bound_ip(host: Host) -> str | None:
    host.refresh_from_db()
    return host.bound_ip


def actions() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_it_binds_the_host_to_its_first_ip_and_audits_it(host, from_ip):
    assert call(from_ip("203.0.113.5")).status_code == 200

    assert bound_ip(host) == "203.0.113.5"
    event = AuditEvent.objects.get(action="auth.bind_ip")
    assert (event.actor, event.ip, event.meta["fqdn"]) == (
        "host:build-01",
        "203.0.113.5",
        "build-01",
    )
    assert call(from_ip("203.0.113.5")).status_code == 200
    assert AuditEvent.objects.filter(action="auth.bind_ip").count() == 1


def test_it_refuses_another_ip_once_bound_and_audits_the_refusal(host, from_ip):
    call(from_ip("203.0.113.5"))

    response = call(from_ip("198.51.100.20"))

    assert response.status_code == 403
    assert response.json() == WRONG_IP
    assert bound_ip(host) == "203.0.113.5"
    refusal = AuditEvent.objects.filter(action="auth.failed").latest("id")
    assert refusal.ip == "198.51.100.20"
    assert refusal.meta["reason"] == "ip not allowed"
    assert refusal.meta["bound_ip"] == "203.0.113.5"


def test_it_binds_the_forwarded_client_behind_a_trusted_proxy(host, from_ip, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    # Behind a trusted proxy the right-most untrusted hop is the client.
    response = call(from_ip("127.0.0.1", "10.9.8.7, 198.51.100.20"))

    assert response.status_code == 200
    assert bound_ip(host) == "198.51.100.20"
    assert call(from_ip("127.0.0.1", "198.51.100.20")).status_code == 200
    assert call(from_ip("127.0.0.1", "198.51.100.21")).json() == WRONG_IP


def test_it_skips_trusted_proxies_in_the_forwarded_chain(host, from_ip, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32", "10.0.0.0/8"]

    call(from_ip("127.0.0.1", "198.51.100.20, 10.1.2.3"))

    assert bound_ip(host) == "198.51.100.20"


def test_it_ignores_a_forged_forwarded_for_from_an_untrusted_peer(host, from_ip):
    call(from_ip("203.0.113.5"))

    # An attacker elsewhere claims to be the bound address: the peer address is what counts.
    forged = call(from_ip("198.51.100.66", "203.0.113.5"))

    assert forged.status_code == 403
    assert forged.json() == WRONG_IP
    assert bound_ip(host) == "203.0.113.5"


def test_it_does_not_bind_to_a_forged_forwarded_for_on_the_first_call(host, from_ip):
    call(from_ip("198.51.100.66", "203.0.113.5"))

    assert bound_ip(host) == "198.51.100.66"


def test_it_normalises_ipv4_mapped_ipv6(host, from_ip):
    call(from_ip("::ffff:203.0.113.5"))

    assert bound_ip(host) == "203.0.113.5"
    assert call(from_ip("203.0.113.5")).status_code == 200


def test_it_binds_ipv6_addresses(host, from_ip):
    assert call(from_ip("2001:db8::10")).status_code == 200
    assert bound_ip(host) == "2001:db8::10"
    assert call(from_ip("2001:0db8:0000::0010")).status_code == 200
    assert call(from_ip("2001:db8::11")).status_code == 403


def test_it_rebinds_a_roaming_host_and_audits_the_move(host, from_ip):
    call(from_ip("203.0.113.5"))
    Host.objects.filter(pk=host.pk).update(allow_roaming_ips=True)

    response = call(from_ip("198.51.100.20"))

    assert response.status_code == 200
    assert bound_ip(host) == "198.51.100.20"
    event = AuditEvent.objects.get(action="auth.roaming_ip")
    assert event.ip == "198.51.100.20"
    assert event.meta["previous_ip"] == "203.0.113.5"
    assert response.json()["data"]["host"]["bound_ip"] == "198.51.100.20"


def test_it_stops_roaming_once_the_flag_is_off(host, from_ip):
    Host.objects.filter(pk=host.pk).update(allow_roaming_ips=True, bound_ip="203.0.113.5")
    call(from_ip("198.51.100.20"))
    Host.objects.filter(pk=host.pk).update(allow_roaming_ips=False)

    assert call(from_ip("203.0.113.5")).json() == WRONG_IP
    assert bound_ip(host) == "198.51.100.20"


def test_it_refuses_a_bound_host_when_the_client_ip_is_unknown(host, from_ip):
    # A peer without a usable address (a misconfigured socket) cannot prove it is the bound IP.
    Host.objects.filter(pk=host.pk).update(bound_ip="203.0.113.5")

    response = call(from_ip(""))

    assert response.status_code == 403
    assert response.json() == WRONG_IP


def test_it_does_not_bind_on_a_refused_key(host, from_ip, api_client):
    api_client.credentials(HTTP_X_API_KEY="hk_" + "Q" * 40)
    api_client.post("/auth", RETRIEVE, format="json", REMOTE_ADDR="203.0.113.5")

    assert bound_ip(host) is None
    assert "auth.bind_ip" not in actions()


def test_the_authentication_class_only_reads(host, host_key):
    """Binding and counting are the views' service calls; authenticating writes nothing."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from hosts.authentication import HostKeyAuthentication

    request = Request(
        APIRequestFactory().post("/auth", REMOTE_ADDR="203.0.113.5", HTTP_X_API_KEY=host_key)
    )
    with CaptureQueriesContext(connection) as queries:
        principal, credential = HostKeyAuthentication().authenticate(request)

    assert credential.pk == host.pk and principal.machine == host.fqdn
    assert [query["sql"].split()[0] for query in queries] == ["SELECT"]
    host.refresh_from_db()
    assert (host.bound_ip, host.api_calls) == (None, 0)
