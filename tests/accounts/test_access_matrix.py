"""Every credential against every scope: the real admin routes and one probe per permission class.

401: no credential, an unknown, a revoked or an expired token. 403: a known credential without the
scope. The default permission denies even an admin.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent
from accounts.services import token_issue, token_revoke
from core.hashing import secret_hint, sha256_hex
from hosts.models import Host

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.probe_urls")]

HOST_KEY = "hk_MatrixHostKey0123456789abcdefghijklmnop"
UNKNOWN = "wa_" + "x" * 43

CREDENTIALS = ["none", "unknown", "revoked", "expired", "admin", "ingest", "read", "embed", "host"]

# (method, path) → the credentials that pass; everyone else known gets 403, the rest 401.
ROUTES = {
    ("get", "/api/admin/tokens"): {"admin"},
    ("post", "/api/admin/tokens"): {"admin"},
    ("delete", "/api/admin/tokens/{token_id}"): {"admin"},
    ("get", "/api/admin/audit"): {"admin"},
    ("get", "/api/probe/is-admin"): {"admin"},
    ("get", "/api/probe/can-ingest"): {"admin", "ingest", "host"},
    ("get", "/api/probe/can-read"): {"admin", "read", "embed"},
    ("get", "/api/probe/can-embed"): {"admin", "embed"},
    ("get", "/api/probe/default"): set(),
}
UNAUTHENTICATED = {"none", "unknown", "revoked", "expired"}


@pytest.fixture
def cast(db) -> dict[str, str | None]:
    """Plaintext credentials by name (None: send nothing)."""
    plaintext = {"none": None, "unknown": UNKNOWN, "host": HOST_KEY}
    for scope in ("admin", "ingest", "read", "embed"):
        plaintext[scope] = token_issue(user=f"{scope}-user", scope=scope, actor="test")[1]
    revoked, plaintext["revoked"] = token_issue(user="gone", scope="admin", actor="test")
    token_revoke(token_id=revoked.pk, actor="test")
    expired, plaintext["expired"] = token_issue(
        user="old", scope="admin", actor="test", expires_at=timezone.now() + timedelta(minutes=5)
    )
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    Host.objects.create(
        fqdn="matrix-01",
        owner="alice",
        api_key_hash=sha256_hex(HOST_KEY),
        api_key_hint=secret_hint(HOST_KEY),
    )
    return plaintext


def call(client_for, cast, credential: str, method: str, path: str):
    client = client_for(None)
    if cast[credential]:
        header = "HTTP_X_API_KEY" if credential == "host" else "HTTP_AUTHORIZATION"
        value = cast[credential] if credential == "host" else f"Bearer {cast[credential]}"
        client.credentials(**{header: value})
    if "{token_id}" in path:
        victim, _plaintext = token_issue(user="victim", scope="read", actor="test")
        path = path.format(token_id=victim.pk)
    if method == "post":
        return client.post(path, {"user": "new", "scope": "read"}, format="json")
    return getattr(client, method)(path)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize(("method", "path"), list(ROUTES))
def test_it_answers_each_credential_by_scope(client_for, cast, credential, method, path):
    response = call(client_for, cast, credential, method, path)
    if credential in ROUTES[(method, path)]:
        assert response.status_code in (200, 201, 204), response.content
    elif credential in UNAUTHENTICATED:
        assert response.status_code == 401, response.content
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error"}
    else:
        assert response.status_code == 403, response.content
        assert set(response.json()) == {"error"}


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("public", [True, False])
def test_it_opens_usage_reads_unless_usage_api_public_is_off(client_for, cast, credential, public):
    with override_settings(USAGE_API_PUBLIC=public):
        response = call(client_for, cast, credential, "get", "/api/probe/usage-read")
    if credential in ("unknown", "revoked", "expired"):
        expected = 401  # a bad credential is refused even where none is needed
    elif public or credential in ("admin", "read", "embed"):
        expected = 200
    elif credential == "none":
        expected = 401
    else:
        expected = 403
    assert response.status_code == expected, response.content


def test_it_says_which_scope_is_missing(client_for, cast):
    response = call(client_for, cast, "read", "get", "/api/admin/tokens")
    assert response.json() == {"error": "This route needs an admin token."}
    response = call(client_for, cast, "ingest", "get", "/api/probe/can-read")
    assert response.json() == {"error": "This route needs a read, embed or admin token."}


def test_it_ignores_authorization_schemes_other_than_bearer(client_for, cast):
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {cast['admin']}")
    assert client.get("/api/admin/tokens").status_code == 401


def test_it_accepts_a_query_token_only_where_the_view_allows_it(client_for, cast):
    client = client_for(None)
    assert client.get(f"/api/probe/query-token?token={cast['embed']}").status_code == 200
    assert client.get(f"/api/probe/query-token?token={cast['read']}").status_code == 403
    assert client.get(f"/api/probe/query-token?token={UNKNOWN}").status_code == 401
    assert client.get(f"/api/admin/tokens?token={cast['admin']}").status_code == 401


def test_it_audits_every_refused_credential_with_its_reason(client_for, cast):
    for credential in ("unknown", "revoked", "expired"):
        call(client_for, cast, credential, "get", "/api/admin/tokens")
    failed = AuditEvent.objects.filter(action="auth.failed").order_by("id")
    reasons = [event.meta["reason"] for event in failed]
    assert reasons == ["unknown", "revoked", "expired"]
    revoked_id = ApiToken.objects.get(token_hash=sha256_hex(cast["revoked"])).pk
    assert failed[1].meta["token_id"] == revoked_id
    assert all(event.ip == "127.0.0.1" for event in failed)
    assert all(event.meta["path"] == "/api/admin/tokens" for event in failed)
    text = str(list(failed.values()))
    assert not any(cast[name] in text for name in ("unknown", "revoked", "expired"))
    # A wrong scope is an authorisation refusal, not a failed authentication.
    call(client_for, cast, "read", "get", "/api/admin/tokens")
    assert AuditEvent.objects.filter(action="auth.failed").count() == 3


def test_it_attributes_a_host_key_to_its_host(client_for, cast):
    response = call(client_for, cast, "host", "get", "/api/probe/can-ingest")
    assert response.json()["actor"] == "host:matrix-01"
