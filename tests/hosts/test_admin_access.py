"""The admin access rule on every `/admin/*` route: an admin token, or the mTLS header from a
trusted proxy plus DASHBOARD_ADMIN_KEY when one is set. Everyone else gets 403 in the fleet
dialect and changes nothing. TRUSTED_PROXIES is set here, not taken from the default."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from hosts.models import Host, SlashCommand

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.2"  # the trusted TLS proxy
STRANGER = "203.0.113.9"
ADMIN_KEY = "dashboard-admin-key-0123456789abcdef"
REFUSED = {"status": "error", "message": "Admin access requires mTLS or an admin token."}

# (method, path, body): every /admin route of the contract. `{id}` is build-01's id.
ROUTES = [
    ("get", "/admin/overview", None),
    ("get", "/admin/hosts", None),
    ("post", "/admin/hosts/register", {"fqdn": "new-01.example"}),
    ("get", "/admin/hosts/{id}", None),
    ("get", "/admin/hosts/{id}/auth", None),
    ("post", "/admin/hosts/{id}/roaming", {"allow": True}),
    ("post", "/admin/hosts/{id}/clear", {}),
    ("post", "/admin/hosts/{id}/status", {"status": "disabled"}),
    ("delete", "/admin/hosts/{id}", None),
    ("post", "/admin/auth/upload", "AUTH"),
    ("get", "/admin/api/state", None),
    ("post", "/admin/api/state", {"api_disabled": False}),
    ("get", "/admin/logs", None),
    ("get", "/admin/usage", None),
    ("get", "/admin/tokens", None),
    ("get", "/admin/runner", None),
    ("post", "/admin/runner/run", {"steps": ["installers"]}),
    ("post", "/admin/versions/check", None),
    ("get", "/admin/chatgpt/usage", None),
    ("post", "/admin/chatgpt/usage/refresh", None),
    ("get", "/admin/slash-commands", None),
    ("delete", "/admin/slash-commands/review.md", None),
]
ROUTE_IDS = [f"{method.upper()} {path}" for method, path, _body in ROUTES]


@pytest.fixture(autouse=True)
def _proxies(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.DASHBOARD_ADMIN_KEY = ""


@pytest.fixture
def world(host, codex_auth):
    SlashCommand.objects.create(filename="review.md", prompt="Review.", sha256="0" * 64)
    return host


def call(client: APIClient, route, host: Host, codex_auth, **extra):
    method, path, body = route
    if body == "AUTH":
        body = {"auth": codex_auth()}
    url = path.format(id=host.pk)
    if body is None:
        return getattr(client, method)(url, **extra)
    return getattr(client, method)(url, body, format="json", **extra)


def assert_refused(response) -> None:
    assert response.status_code == 403, response.content[:300]
    assert response.json() == REFUSED


def assert_untouched(host: Host) -> None:
    host.refresh_from_db()
    assert (host.status, host.allow_roaming_ips) == ("active", False)
    assert SlashCommand.objects.get(filename="review.md").deleted_at is None
    assert not AuditEvent.objects.filter(
        action__in=["host.status", "host.roaming", "host.clear", "host.delete", "auth.upload"]
    ).exists()


def assert_allowed(response) -> None:
    assert response.status_code in (200, 201), response.content[:500]
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_no_credential_is_refused(world, codex_auth, route):
    assert_refused(call(APIClient(REMOTE_ADDR=STRANGER), route, world, codex_auth))
    assert_untouched(world)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_the_mtls_header_from_an_untrusted_peer_is_refused(world, codex_auth, route):
    client = APIClient(REMOTE_ADDR=STRANGER)
    assert_refused(call(client, route, world, codex_auth, HTTP_X_MTLS_PRESENT="SUCCESS"))
    assert_untouched(world)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_the_mtls_header_from_a_trusted_proxy_needs_the_admin_key_when_set(
    world, codex_auth, route, settings
):
    settings.DASHBOARD_ADMIN_KEY = ADMIN_KEY
    client = APIClient(REMOTE_ADDR=PROXY)

    without = call(client, route, world, codex_auth, HTTP_X_MTLS_PRESENT="SUCCESS")
    wrong = call(
        client, route, world, codex_auth, HTTP_X_MTLS_PRESENT="SUCCESS", HTTP_X_ADMIN_KEY="nope"
    )
    assert_refused(without)
    assert_refused(wrong)
    assert_untouched(world)

    right = call(
        client, route, world, codex_auth, HTTP_X_MTLS_PRESENT="SUCCESS", HTTP_X_ADMIN_KEY=ADMIN_KEY
    )
    assert_allowed(right)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_the_mtls_header_from_a_trusted_proxy_is_enough_without_an_admin_key(
    world, codex_auth, route
):
    client = APIClient(REMOTE_ADDR=PROXY)
    assert_allowed(call(client, route, world, codex_auth, HTTP_X_MTLS_PRESENT="SUCCESS"))


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_an_admin_token_is_allowed_from_anywhere(world, codex_auth, route, client_for, admin_token):
    client = client_for(admin_token)
    client.defaults["REMOTE_ADDR"] = STRANGER
    assert_allowed(call(client, route, world, codex_auth))


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("fixture", ["read_token", "alice_ingest_token", "embed_token"])
def test_a_non_admin_token_is_refused(world, codex_auth, route, fixture, request, client_for):
    client = client_for(request.getfixturevalue(fixture))
    assert_refused(call(client, route, world, codex_auth))
    assert_untouched(world)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_a_host_key_is_refused(world, codex_auth, route, host_key):
    client = APIClient(REMOTE_ADDR="127.0.0.1")
    client.credentials(HTTP_X_API_KEY=host_key)
    assert_refused(call(client, route, world, codex_auth))
    bearer = APIClient(REMOTE_ADDR="127.0.0.1")
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {host_key}")
    assert_refused(call(bearer, route, world, codex_auth))
    assert_untouched(world)
