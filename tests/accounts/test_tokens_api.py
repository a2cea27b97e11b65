from __future__ import annotations

import pytest

from accounts.models import ApiToken
from accounts.services import hash_token

pytestmark = pytest.mark.django_db


def test_it_issues_a_token_shown_once_and_stored_hashed(client_for, admin_token):
    response = client_for(admin_token).post(
        "/api/admin/tokens", {"user": "bob", "scope": "ingest", "label": "laptop"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["token"].startswith("wi_") and len(body["token"]) == 3 + 43
    row = ApiToken.objects.get(pk=body["id"])
    assert row.token_hash == hash_token(body["token"])
    assert body["token"] not in str(ApiToken.objects.filter(pk=row.pk).values().first())
    listing = client_for(admin_token).get("/api/admin/tokens").json()["tokens"]
    listed = next(item for item in listing if item["id"] == body["id"])
    assert "token" not in listed and "token_hash" not in listed
    assert listed["hint"].startswith("wi_") and body["token"] not in str(listing)
