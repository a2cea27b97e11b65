"""core.client_ip and ForwardedHeadersMiddleware: the peer decides whether any forwarded header
is believed. A Unix-socket peer (REMOTE_ADDR "" under gunicorn's own workers, absent under
uvicorn) is trusted only with TRUSTED_PROXIES=unix; an IP peer only by CIDR."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from core.client_ip import client_ip, from_trusted_proxy, mtls_verified
from core.middleware import ForwardedHeadersMiddleware

ABSENT = object()
FORWARDED = {
    "HTTP_X_FORWARDED_FOR": "198.51.100.7",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_HOST": "evil.example",
    "HTTP_FORWARDED": "for=198.51.100.8",
    "HTTP_X_REAL_IP": "198.51.100.9",
    "HTTP_X_REQUEST_ID": "edge-0123456789",
    "HTTP_X_MTLS_PRESENT": "SUCCESS",
}


def request_from(remote: Any, **meta: Any) -> HttpRequest:
    request = RequestFactory().get("/", **meta)
    if remote is ABSENT:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = remote
    return request


@pytest.mark.parametrize(
    ("proxies", "remote", "trusted", "ip"),
    [
        ([], "", False, None),
        ([], ABSENT, False, None),
        ([], "127.0.0.1", False, "127.0.0.1"),
        (["unix"], "", True, "198.51.100.7"),
        (["unix"], ABSENT, True, "198.51.100.7"),
        (["unix"], "unix:/run/tokenfleet/gunicorn.sock", True, "198.51.100.7"),
        (["UNIX"], "", True, "198.51.100.7"),
        # Loopback is not the socket: another local user cannot forge through it.
        (["unix"], "127.0.0.1", False, "127.0.0.1"),
        (["unix"], "::1", False, "::1"),
        (["10.0.0.5/32"], "", False, None),
        (["10.0.0.5/32"], "10.0.0.5", True, "198.51.100.7"),
        (["unix", "10.0.0.5/32"], "10.0.0.5", True, "198.51.100.7"),
    ],
)
def test_it_trusts_the_socket_only_when_told(proxies, remote, trusted, ip):
    with override_settings(TRUSTED_PROXIES=proxies):
        request = request_from(remote, **FORWARDED)
        assert from_trusted_proxy(request) is trusted
        assert mtls_verified(request) is trusted
        assert client_ip(request) == ip


def test_it_takes_the_right_most_untrusted_hop_from_the_socket():
    with override_settings(TRUSTED_PROXIES=["unix", "10.0.0.0/8"]):
        request = request_from("", HTTP_X_FORWARDED_FOR="203.0.113.1, 198.51.100.7, 10.0.0.2")
        assert client_ip(request) == "198.51.100.7"


def run_middleware(request: HttpRequest) -> HttpRequest:
    seen: list[HttpRequest] = []

    def view(inner: HttpRequest) -> HttpResponse:
        seen.append(inner)
        return HttpResponse("ok")

    ForwardedHeadersMiddleware(view)(request)
    return seen[0]


@pytest.mark.parametrize("remote", ["127.0.0.1", "203.0.113.9", "", ABSENT])
def test_it_drops_every_forwarded_header_from_an_untrusted_peer(remote):
    with override_settings(TRUSTED_PROXIES=[], SECURE_PROXY_SSL_HEADER=None):
        seen = run_middleware(request_from(remote, **FORWARDED))
    assert not set(FORWARDED) & set(seen.META)


def test_it_drops_a_renamed_mtls_header_too():
    with override_settings(TRUSTED_PROXIES=["unix"], ADMIN_MTLS_HEADER="X-Client-Verified"):
        seen = run_middleware(request_from("127.0.0.1", HTTP_X_CLIENT_VERIFIED="SUCCESS"))
    assert "HTTP_X_CLIENT_VERIFIED" not in seen.META


def test_it_keeps_the_forwarded_headers_of_a_trusted_proxy_and_believes_its_scheme():
    proxy_ssl = ("HTTP_X_FORWARDED_PROTO", "https")
    with override_settings(TRUSTED_PROXIES=["unix"], SECURE_PROXY_SSL_HEADER=proxy_ssl):
        seen = run_middleware(request_from("", **FORWARDED))
        assert {key: seen.META[key] for key in FORWARDED} == FORWARDED
        assert seen.is_secure()
        forged = run_middleware(request_from("127.0.0.1", **FORWARDED))
        assert not forged.is_secure()


@pytest.mark.django_db
def test_it_refuses_a_forged_mtls_header_over_loopback_on_default_settings(client):
    # The issue's own reproduction: from 127.0.0.1, `X-mTLS-Present: SUCCESS` was admin.
    response = client.post(
        "/admin/api/state",
        {"api_disabled": True},
        content_type="application/json",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_MTLS_PRESENT="SUCCESS",
    )
    assert response.status_code in (401, 403)
    assert response.json()["message"] == "Admin access requires mTLS or an admin token."
