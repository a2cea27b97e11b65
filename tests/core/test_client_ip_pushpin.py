"""core.client_ip for requests our Pushpin relayed: a valid Grip-Sig (GRIP_URL's key) makes the
hop Pushpin appended to X-Forwarded-For the peer that is judged against TRUSTED_PROXIES; without
one (no signature, another key, expired, wrong issuer) the headers are judged by the direct peer,
which for Pushpin's loopback connection believes nothing."""

from __future__ import annotations

import time

import jwt
import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from core.client_ip import client_ip, from_trusted_proxy, mtls_verified
from core.middleware import ForwardedHeadersMiddleware

KEY = "grip-test-key-0123456789abcdef0123456789"
GRIP_URL = f"http://127.0.0.1:5561?iss=pushpin&key={KEY}"
PUSHPIN = "127.0.0.1"  # Pushpin reaches the app over loopback (deploy/: 127.0.0.1:8001)


def sig(*, key: str = KEY, iss: str = "pushpin", exp_in: float = 3600) -> str:
    return jwt.encode({"iss": iss, "exp": int(time.time() + exp_in)}, key, algorithm="HS256")


def relayed(forwarded: str | None, *, grip_sig: str | None = None, **meta: str) -> HttpRequest:
    """A request as gunicorn gets it from Pushpin: peer 127.0.0.1, Pushpin's X-Forwarded-For."""
    request = RequestFactory().get("/api/usage/stream")
    request.META.update(meta)
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    request.META["HTTP_GRIP_SIG"] = sig() if grip_sig is None else grip_sig
    request.META["REMOTE_ADDR"] = PUSHPIN
    return request


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected", "trusted"),
    [
        # Pushpin facing clients (make run-production): it appended the client's own address.
        ([], "198.51.100.7", "198.51.100.7", False),
        (["unix"], "198.51.100.7", "198.51.100.7", False),
        # deploy/: nginx over Pushpin's Unix socket; Pushpin appended "" for the socket, and
        # nginx set the client's address. The socket is trusted exactly as gunicorn's is.
        (["unix"], "198.51.100.7, ", "198.51.100.7", True),
        (["unix"], "198.51.100.7,", "198.51.100.7", True),
        # ... and untrusted without `unix`: the socket peer has no address to give.
        ([], "198.51.100.7, ", None, False),
        # A client that reached Pushpin's loopback port itself, forging the header nginx sets:
        # Pushpin appended 127.0.0.1, which is not trusted, so the forgery is not read.
        (["unix"], "203.0.113.66, 127.0.0.1", "127.0.0.1", False),
        # nginx on another machine in front of Pushpin over TCP, trusted by its address.
        (["10.0.0.5/32"], "198.51.100.7, 10.0.0.5", "198.51.100.7", True),
        (["10.0.0.5/32"], "203.0.113.66, 10.0.0.9", "10.0.0.9", False),
        # The right-most untrusted hop, as for any trusted proxy.
        (["unix", "10.0.0.0/8"], "203.0.113.1, 198.51.100.7, 10.0.0.2, ", "198.51.100.7", True),
        # Not what our Pushpin writes: nothing is believed, the direct peer stands.
        (["unix"], "198.51.100.7, not-an-ip", PUSHPIN, False),
    ],
)
def test_it_judges_the_peer_pushpin_appended(proxies, forwarded, expected, trusted):
    with override_settings(GRIP_URL=GRIP_URL, TRUSTED_PROXIES=proxies):
        request = relayed(forwarded, HTTP_X_MTLS_PRESENT="SUCCESS")
        assert client_ip(request) == expected
        assert from_trusted_proxy(request) is trusted
        assert mtls_verified(request) is trusted


@pytest.mark.parametrize(
    "grip_sig",
    [
        "",
        "not-a-jwt",
        sig(key="someone-elses-key-0123456789abcdef012345"),
        sig(exp_in=-5),
        sig(iss="other"),
        jwt.encode({"iss": "pushpin"}, KEY, algorithm="HS256"),  # no expiry
    ],
)
def test_it_believes_nothing_without_a_valid_grip_sig(grip_sig):
    with override_settings(GRIP_URL=GRIP_URL, TRUSTED_PROXIES=["unix"]):
        request = relayed("198.51.100.7, ", grip_sig=grip_sig, HTTP_X_MTLS_PRESENT="SUCCESS")
        assert client_ip(request) == PUSHPIN
        assert not from_trusted_proxy(request)
        assert not mtls_verified(request)


def test_it_believes_no_grip_sig_when_no_pushpin_is_configured():
    with override_settings(GRIP_URL="", TRUSTED_PROXIES=["unix"]):
        assert client_ip(relayed("198.51.100.7, ")) == PUSHPIN


def test_the_middleware_keeps_the_address_pushpin_gave_and_drops_what_it_does_not_trust():
    seen: list[HttpRequest] = []

    def view(inner: HttpRequest) -> HttpResponse:
        seen.append(inner)
        return HttpResponse("ok")

    with override_settings(GRIP_URL=GRIP_URL, TRUSTED_PROXIES=[], SECURE_PROXY_SSL_HEADER=None):
        # Pushpin facing the client: its address is the client's, its other headers are the
        # client's own and dropped like any untrusted peer's.
        ForwardedHeadersMiddleware(view)(
            relayed("198.51.100.7", HTTP_X_FORWARDED_PROTO="https", HTTP_X_MTLS_PRESENT="SUCCESS")
        )
        request = seen[-1]
        assert "HTTP_X_FORWARDED_FOR" not in request.META
        assert "HTTP_X_MTLS_PRESENT" not in request.META
        assert client_ip(request) == "198.51.100.7"
        assert not mtls_verified(request)
    with override_settings(GRIP_URL=GRIP_URL, TRUSTED_PROXIES=["unix"]):
        ForwardedHeadersMiddleware(view)(relayed("198.51.100.7, ", HTTP_X_MTLS_PRESENT="SUCCESS"))
        request = seen[-1]
        assert request.META["HTTP_X_FORWARDED_FOR"] == "198.51.100.7, "
        assert client_ip(request) == "198.51.100.7"
        assert mtls_verified(request)
