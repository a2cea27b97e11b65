from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from embed.models import EmbedOrigin

pytestmark = pytest.mark.django_db

BOARD = "https://board.example.com"
WIDGET_READS = [
    "/api/usage/totals",
    "/api/usage/timeseries",
    "/api/usage/leaderboard",
    "/api/usage/recent",
]
READS = [*WIDGET_READS, "/api/usage/breakdown", "/api/usage/breakdown.csv"]
# Where an embed token is refused from any origin, whitelisted or not.
NOT_FOR_EMBEDS = [
    "/api/usage/breakdown",
    "/api/usage/breakdown.csv",
    "/api/usage/users/alice",
    "/api/usage/stream",
    "/metrics",
]
FORBIDDEN_ORIGIN = {"error": "This origin is not allowed to embed tokenfleet."}
WIDGET_ROUTES_ONLY = {
    "error": "An embed token may read only /api/usage/totals, timeseries, leaderboard and recent."
}


@pytest.fixture
def board_origin(db) -> EmbedOrigin:
    return EmbedOrigin.objects.create(origin=BOARD, label="wall screen")


@pytest.fixture
def private(settings):
    settings.USAGE_API_PUBLIC = False


@pytest.mark.parametrize("path", READS)
def test_it_serves_reads_publicly_by_default(api_client, path):
    assert api_client.get(path).status_code == 200


@pytest.mark.parametrize("path", READS)
def test_it_requires_a_read_or_admin_token_when_not_public(
    private, api_client, client_for, path, read_token, admin_token, alice_ingest_token
):
    anonymous = api_client.get(path)
    ingest_only = client_for(alice_ingest_token).get(path)

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]
    assert ingest_only.status_code == 403
    for token in (read_token, admin_token):
        assert client_for(token).get(path).status_code == 200


def test_it_keeps_the_user_route_behind_the_same_rule(private, api_client, client_for, read_token):
    assert api_client.get("/api/usage/users/alice").status_code == 401
    assert client_for(read_token).get("/api/usage/users/alice").status_code == 404


@pytest.mark.parametrize("path", WIDGET_READS)
@pytest.mark.parametrize(
    "origin", [BOARD, "https://Board.Example.COM:443", "https://board.example.com/"]
)
def test_it_lets_an_embed_token_read_the_widget_routes_from_a_whitelisted_origin(
    private, board_origin, client_for, embed_token, path, origin
):
    response = client_for(embed_token).get(path, HTTP_ORIGIN=origin)

    assert response.status_code == 200, response.content
    assert response["Access-Control-Allow-Origin"] == BOARD


def test_it_accepts_the_origin_of_the_referer_as_embeds_do(
    private, board_origin, client_for, embed_token
):
    response = client_for(embed_token).get(
        "/api/usage/totals", HTTP_REFERER="https://board.example.com/wall?screen=2"
    )

    assert response.status_code == 200


@pytest.mark.parametrize("path", WIDGET_READS)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_ORIGIN": "https://evil.example"},
        {"HTTP_ORIGIN": "http://board.example.com"},
        {"HTTP_ORIGIN": "null", "HTTP_REFERER": f"{BOARD}/wall"},
    ],
)
def test_it_refuses_an_embed_token_from_any_other_origin(
    private, board_origin, client_for, embed_token, path, headers
):
    response = client_for(embed_token).get(path, **headers)

    assert response.status_code == 403
    assert response.json() == FORBIDDEN_ORIGIN
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize("path", NOT_FOR_EMBEDS)
@pytest.mark.parametrize("headers", [{"HTTP_ORIGIN": BOARD}, {}])
def test_it_refuses_an_embed_token_on_every_other_usage_route(
    private, board_origin, client_for, embed_token, path, headers
):
    response = client_for(embed_token).get(path, **headers)

    assert response.status_code == 403
    assert response.json() == WIDGET_ROUTES_ONLY


def test_it_rate_limits_an_embed_token_per_client_ip_on_usage_reads(
    private, settings, board_origin, embed_token
):
    settings.RATE_LIMIT_PER_MINUTE = 3
    bearer = f"Bearer {embed_token}"
    busy = APIClient(REMOTE_ADDR="10.0.0.1", HTTP_AUTHORIZATION=bearer)
    for _ in range(3):
        assert busy.get("/api/usage/totals", HTTP_ORIGIN=BOARD).status_code == 200

    limited = busy.get("/api/usage/recent", HTTP_ORIGIN=BOARD)

    assert limited.status_code == 429
    assert limited["Access-Control-Allow-Origin"] == BOARD
    # Another viewer of the same widget page is not locked out by the first.
    other = APIClient(REMOTE_ADDR="10.0.0.2", HTTP_AUTHORIZATION=bearer)
    assert other.get("/api/usage/totals", HTTP_ORIGIN=BOARD).status_code == 200
