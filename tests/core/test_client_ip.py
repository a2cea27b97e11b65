"""Client IP: REMOTE_ADDR, unless it is a trusted proxy; then the right-most X-Forwarded-For entry
that is not a trusted proxy. Nobody else's forwarded headers are believed."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory, override_settings

from accounts.models import AuditEvent
from core.client_ip import client_ip, normalise_ip

LOOPBACK = ["127.0.0.1/32", "::1/128"]
LAN = ["127.0.0.1/32", "::1/128", "10.0.0.0/8"]


def ip_of(remote: str, forwarded: str | None = None) -> str | None:
    extra: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **extra))


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        # No proxy: the peer, whatever it forwards.
        (LOOPBACK, "203.0.113.7", None, "203.0.113.7"),
        (LOOPBACK, "203.0.113.7", "198.51.100.1", "203.0.113.7"),
        (LOOPBACK, "203.0.113.7", "127.0.0.1", "203.0.113.7"),
        # Nothing trusted: even loopback's header is ignored.
        ([], "127.0.0.1", "198.51.100.1", "127.0.0.1"),
        # A trusted proxy: the address it saw.
        (LOOPBACK, "127.0.0.1", "198.51.100.1", "198.51.100.1"),
        (LOOPBACK, "127.0.0.1", None, "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", "", "127.0.0.1"),
        # A client's own forged entries sit left of what the proxy appended.
        (LOOPBACK, "127.0.0.1", "1.1.1.1, 198.51.100.1", "198.51.100.1"),
        (LOOPBACK, "127.0.0.1", "10.0.0.9, 198.51.100.1", "198.51.100.1"),
        # A chain of trusted proxies is walked from the right.
        (LAN, "10.0.0.2", "198.51.100.1, 203.0.113.7, 10.0.0.5", "203.0.113.7"),
        (LAN, "127.0.0.1", "203.0.113.7, 10.0.0.5, 10.0.0.6", "203.0.113.7"),
        # ...but a chain through an untrusted hop stops there.
        (LOOPBACK, "127.0.0.1", "203.0.113.7, 10.0.0.5", "10.0.0.5"),
        # Every hop trusted: the left-most.
        (LAN, "10.0.0.2", "10.0.0.7, 10.0.0.5", "10.0.0.7"),
        # IPv4-mapped IPv6 is the IPv4 address, for peers and entries alike.
        (LOOPBACK, "::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"),
        (LOOPBACK, "::ffff:203.0.113.7", "198.51.100.1", "203.0.113.7"),
        (LOOPBACK, "127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"),
        (LAN, "127.0.0.1", "198.51.100.1, ::ffff:10.0.0.5", "198.51.100.1"),
        # IPv6, with the forms proxies write.
        (LOOPBACK, "::1", "2001:db8::1", "2001:db8::1"),
        (LOOPBACK, "::1", "[2001:DB8::1]:4711", "2001:db8::1"),
        (LOOPBACK, "127.0.0.1", "198.51.100.1:4711", "198.51.100.1"),
        (LOOPBACK, "127.0.0.1", " 198.51.100.1 ", "198.51.100.1"),
        # Garbage: never believed, and nothing left of it either.
        (LOOPBACK, "127.0.0.1", "unknown", "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", "198.51.100.1, <script>", "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", "garbage, 198.51.100.1", "198.51.100.1"),
        (LOOPBACK, "127.0.0.1", ",,", "127.0.0.1"),
        (LOOPBACK, "127.0.0.1", "999.1.1.1", "127.0.0.1"),
        # A peer that is no address at all (a unix socket) has none.
        (LOOPBACK, "", "198.51.100.1", None),
        (LOOPBACK, "unix:/run/app.sock", "198.51.100.1", None),
    ],
)
def test_it_resolves_the_client_address(proxies, remote, forwarded, expected):
    with override_settings(TRUSTED_PROXIES=proxies):
        assert ip_of(remote, forwarded) == expected


def test_it_ignores_an_unreadable_trusted_proxies_entry_instead_of_failing():
    with override_settings(TRUSTED_PROXIES=["not-an-ip", "127.0.0.1/32"]):
        assert ip_of("127.0.0.1", "198.51.100.1") == "198.51.100.1"
    with override_settings(TRUSTED_PROXIES=["not-an-ip"]):
        assert ip_of("127.0.0.1", "198.51.100.1") == "127.0.0.1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("[::1]", "::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("192.0.2.1:80", "192.0.2.1"),
        ("nonsense", None),
        ("", None),
    ],
)
def test_it_normalises_addresses(raw, expected):
    assert normalise_ip(raw) == expected


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=LOOPBACK)
def test_it_audits_the_resolved_address_and_ignores_a_forged_header(client_for, admin_token):
    client = client_for(admin_token)
    client.post(
        "/api/admin/tokens",
        {"user": "forged", "scope": "read"},
        format="json",
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="10.9.9.9",
    )
    client.post(
        "/api/admin/tokens",
        {"user": "proxied", "scope": "read"},
        format="json",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="10.9.9.9, 198.51.100.1",
    )
    forged = AuditEvent.objects.get(action="token.issue", meta__user="forged")
    proxied = AuditEvent.objects.get(action="token.issue", meta__user="proxied")
    assert forged.ip == "203.0.113.7"
    assert proxied.ip == "198.51.100.1"
