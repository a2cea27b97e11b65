from __future__ import annotations

import pytest
from django.test import RequestFactory

from embed.origins import OriginError, normalise_origin, origin_of_url, request_origin


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://board.example.com", "https://board.example.com"),
        ("HTTPS://Board.Example.COM", "https://board.example.com"),
        ("https://board.example.com/", "https://board.example.com"),
        ("https://board.example.com:443", "https://board.example.com"),
        ("http://board.example.com:80/", "http://board.example.com"),
        ("http://board.example.com:443", "http://board.example.com:443"),
        ("https://board.example.com:8443", "https://board.example.com:8443"),
        ("  https://board.example.com  ", "https://board.example.com"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("http://[0:0:0:0:0:0:0:1]", "http://[::1]"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("https://intranet_host.corp", "https://intranet_host.corp"),
    ],
)
def test_it_normalises_origins(raw, expected):
    assert normalise_origin(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "board.example.com",
        "//board.example.com",
        "ftp://board.example.com",
        "javascript://board.example.com",
        "https://board.example.com/embed",
        "https://board.example.com//",
        "https://board.example.com?x=1",
        "https://board.example.com/#top",
        "https://user:pw@board.example.com",
        "https://board.example.com:0",
        "https://board.example.com:70000",
        "https://board.example.com:https",
        "https://",
        "https://bad host.example.com",
        "https://-bad.example.com",
        "https://board.example.com\\@evil.example",
        "http://999.1.1.1",
        "http://[::1",
        "null",
        "https://" + "a" * 250 + ".com",
    ],
)
def test_it_refuses_anything_that_is_not_an_origin(raw):
    with pytest.raises(OriginError):
        normalise_origin(raw)


def test_it_takes_the_origin_of_a_referer():
    assert origin_of_url("https://Board.Example.com:443/wall?x=1#y") == "https://board.example.com"
    assert origin_of_url("/relative/path") is None
    assert origin_of_url("not a url") is None


def test_it_prefers_origin_and_never_replaces_an_opaque_origin_by_the_referer():
    factory = RequestFactory()
    both = factory.get("/", HTTP_ORIGIN="https://A.example", HTTP_REFERER="https://b.example/x")
    assert request_origin(both) == "https://a.example"
    referer_only = factory.get("/", HTTP_REFERER="https://B.example:443/page")
    assert request_origin(referer_only) == "https://b.example"
    opaque = factory.get("/", HTTP_ORIGIN="null", HTTP_REFERER="https://b.example/x")
    assert request_origin(opaque) is None
    assert request_origin(factory.get("/")) is None
