from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

READS = [
    "/api/usage/totals",
    "/api/usage/timeseries",
    "/api/usage/leaderboard",
    "/api/usage/recent",
    "/api/usage/breakdown",
    "/api/usage/breakdown.csv",
]


@pytest.mark.parametrize("path", READS)
def test_it_serves_reads_publicly_by_default(api_client, path):
    assert api_client.get(path).status_code == 200


@pytest.mark.parametrize("path", READS)
def test_it_requires_a_read_embed_or_admin_token_when_not_public(
    settings,
    api_client,
    client_for,
    path,
    read_token,
    embed_token,
    admin_token,
    alice_ingest_token,
):
    settings.USAGE_API_PUBLIC = False

    anonymous = api_client.get(path)
    ingest_only = client_for(alice_ingest_token).get(path)

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]
    assert ingest_only.status_code == 403
    for token in (read_token, embed_token, admin_token):
        assert client_for(token).get(path).status_code == 200


def test_it_keeps_the_user_route_behind_the_same_rule(settings, api_client, client_for, read_token):
    settings.USAGE_API_PUBLIC = False

    assert api_client.get("/api/usage/users/alice").status_code == 401
    assert client_for(read_token).get("/api/usage/users/alice").status_code == 404
