"""`POST /auth` is served without DRF's Request wrapper (hosts.api_base.plain_post_route) when
the body is JSON and the client accepts JSON, as every `cdx` run is. The answer must be the one
AuthApi gives through DRF: same status, same headers, same bytes, for every outcome a client
can meet (the call count aside: each call counts one more)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
import time_machine
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from hosts import services as host_services
from hosts.api_base import plain_post_route
from hosts.fleetauth.api import AuthApi
from hosts.fleetauth.services import api_state_set
from hosts.models import Host, HostStatus

pytestmark = pytest.mark.django_db

CANONICAL_AT = "2026-11-20T10:00:00.123456789Z"
FROZEN = datetime(2026, 11, 25, 12, 0, 30, tzinfo=UTC)
HEADERS = ("Content-Type", "Allow", "WWW-Authenticate", "Retry-After")


def _request(body: bytes | str, *, key: str | None, ip: str = "127.0.0.1", **extra):
    headers = {"REMOTE_ADDR": ip, **extra}
    if key is not None:
        headers["HTTP_X_API_KEY"] = key
    if isinstance(body, str):
        body = body.encode()
    return RequestFactory().post("/auth", body, content_type="application/json", **headers)


def _seen(response) -> tuple[int, dict, bytes]:
    if hasattr(response, "render"):
        response.render()
    headers = {name: response.get(name) for name in HEADERS}
    return (
        response.status_code,
        headers,
        re.sub(rb'"api_calls":\d+', b'"api_calls":0', response.content),
    )


def _both(monkeypatch, body, **kwargs) -> tuple[tuple, tuple]:
    """The same request through DRF's AuthApi, then through the plain route (which must not
    build a DRF Request)."""
    through_drf = _seen(AuthApi.as_view()(_request(body, **kwargs)))
    plain = plain_post_route(AuthApi)

    def no_drf_request(*args, **kw):
        raise AssertionError("the plain route built a DRF Request")

    with monkeypatch.context() as patch:
        patch.setattr(AuthApi, "initialize_request", no_drf_request)
        through_plain = _seen(plain(_request(body, **kwargs)))
    return through_drf, through_plain


@pytest.fixture
def canonical_digest(host_client, codex_auth) -> str:
    response = host_client.post(
        "/auth", {"command": "store", "auth": codex_auth(CANONICAL_AT)}, format="json"
    )
    assert response.json()["data"]["status"] == "updated"
    return response.json()["data"]["canonical_digest"]


def _retrieve(digest: str, last_refresh: str = CANONICAL_AT) -> str:
    return json.dumps({"command": "retrieve", "last_refresh": last_refresh, "digest": digest})


@time_machine.travel(FROZEN, tick=False)
@pytest.mark.parametrize(
    ("name", "digest", "status"),
    [("valid", None, "valid"), ("outdated", "b" * 64, "outdated")],
)
def test_it_answers_a_retrieve_with_the_same_bytes(
    monkeypatch, host, host_key, canonical_digest, name, digest, status
):
    through_drf, through_plain = _both(
        monkeypatch, _retrieve(digest or canonical_digest), key=host_key
    )

    assert through_plain == through_drf
    code, headers, body = through_plain
    assert code == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Allow"] == "POST, DELETE, OPTIONS"
    assert json.loads(body)["data"]["status"] == status


@time_machine.travel(FROZEN, tick=False)
def test_it_answers_a_store_with_the_same_bytes(monkeypatch, host, host_key, codex_auth):
    store = json.dumps({"command": "store", "auth": codex_auth(CANONICAL_AT)})

    through_drf, through_plain = _both(monkeypatch, store, key=host_key)

    # The first store installed the login; the second finds it unchanged.
    assert through_drf[0] == through_plain[0] == 200
    assert json.loads(through_drf[2])["data"]["status"] == "updated"
    assert json.loads(through_plain[2])["data"]["status"] == "unchanged"
    _same, again = _both(monkeypatch, store, key=host_key)
    assert again == _same


@time_machine.travel(FROZEN, tick=False)
@pytest.mark.parametrize(
    ("case", "body", "code", "message"),
    [
        ("no key", None, 401, "API key missing"),
        ("unknown key", None, 401, "Invalid API key"),
        ("disabled host", None, 403, "Host is disabled"),
        ("kill switch", None, 503, "API disabled by administrator"),
        ("another IP", None, 403, "API key not allowed from this IP"),
        ("rate limited", None, 429, "Rate limit exceeded."),
        ("malformed JSON", b'{"command": ', 400, "Malformed JSON body."),
        ("not an object", b"[1, 2]", 422, "Validation failed."),
        ("unknown command", b'{"command": "sync"}', 422, "Validation failed."),
        ("bad digest", None, 422, "Validation failed."),
    ],
)
def test_it_answers_every_refusal_with_the_same_bytes(
    monkeypatch, settings, host, host_key, canonical_digest, case, body, code, message
):
    key: str | None = host_key
    ip = "127.0.0.1"
    body = body or _retrieve(canonical_digest)
    if case == "no key":
        key = None
    elif case == "unknown key":
        key = host_key[:-4] + "nope"
    elif case == "disabled host":
        Host.objects.filter(pk=host.pk).update(status=HostStatus.DISABLED)
    elif case == "kill switch":
        api_state_set(disabled=True, actor="test", ip=None)
    elif case == "another IP":
        ip = "192.0.2.7"
    elif case == "rate limited":
        settings.RATE_LIMIT_PER_MINUTE = 1
        AuthApi.as_view()(_request(body, key=key))  # uses up this window's one call
    elif case == "bad digest":
        body = _retrieve("not-hex")

    through_drf, through_plain = _both(monkeypatch, body, key=key, ip=ip)

    assert through_plain == through_drf
    assert through_plain[0] == code
    assert json.loads(through_plain[2])["message"] == message


@time_machine.travel(FROZEN, tick=False)
@override_settings(AUTH_FAIL_LIMIT=1)
def test_it_refuses_an_address_that_failed_too_often_the_same_way(monkeypatch, host, host_key):
    wrong = host_key[:-4] + "nope"
    first_drf, first_plain = _both(monkeypatch, _retrieve("a" * 64), key=wrong)
    assert first_drf[0] == 401 and first_plain[0] in (401, 429)

    through_drf, through_plain = _both(monkeypatch, _retrieve("a" * 64), key=host_key)

    assert through_plain == through_drf
    assert through_plain[0] == 429
    assert through_plain[1]["Retry-After"] is not None


def test_it_counts_each_call_once_through_the_plain_route(host, host_key, canonical_digest):
    before = Host.objects.get(pk=host.pk).api_calls + host_services.host_calls_pending(
        [host.pk]
    ).get(host.pk, 0)

    response = plain_post_route(AuthApi)(_request(_retrieve(canonical_digest), key=host_key))

    assert isinstance(response, HttpResponse)
    assert response.status_code == 200
    assert json.loads(response.content)["data"]["api_calls"] == before + 1


@pytest.mark.parametrize(
    "extra",
    [
        {"HTTP_ACCEPT": "text/html"},  # DRF answers 406: it negotiates
        {"QUERY_STRING": "format=json"},
        {"CONTENT_LENGTH": "0"},
    ],
)
def test_it_leaves_other_requests_to_drf(monkeypatch, host, host_key, canonical_digest, extra):
    def plain_dispatch(*args, **kwargs):
        raise AssertionError("not a plain request")

    monkeypatch.setattr(AuthApi, "plain_dispatch", plain_dispatch)
    request = _request(_retrieve(canonical_digest), key=host_key, **extra)

    response = plain_post_route(AuthApi)(request)

    assert response.status_code in (200, 406, 422)


def test_it_leaves_a_form_body_and_delete_to_drf(monkeypatch, host_client, canonical_digest):
    def plain_dispatch(*args, **kwargs):
        raise AssertionError("not a plain request")

    monkeypatch.setattr(AuthApi, "plain_dispatch", plain_dispatch)

    form = host_client.post("/auth", {"command": "retrieve"})
    deleted = host_client.delete("/auth")

    assert form.status_code == 415
    assert deleted.status_code == 200 and deleted.json()["data"] == {"deleted": "build-01"}


def test_it_refuses_a_view_without_post_data_when_the_route_is_built():
    from django.core.exceptions import ImproperlyConfigured

    from hosts.api_base import FleetHostView

    class NoPostData(FleetHostView):
        pass

    with pytest.raises(ImproperlyConfigured, match="NoPostData has no post_data"):
        plain_post_route(NoPostData)
