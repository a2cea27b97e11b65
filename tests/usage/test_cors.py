"""CORS on /api/usage/*: wigtoken's widget reads from its host page, on a whitelisted origin."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
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
PREFLIGHT: dict[str, Any] = {
    "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET",
    "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization",
}


@pytest.fixture
def board_origin(db) -> EmbedOrigin:
    return EmbedOrigin.objects.create(origin=BOARD, label="wall screen")


def _cors_headers(response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


def _varies_on_origin(response) -> bool:
    return "origin" in [part.strip().lower() for part in response.get("Vary", "").split(",")]


@pytest.mark.parametrize("path", [*WIDGET_READS, "/api/usage/breakdown", "/api/usage/users/x"])
def test_it_answers_the_preflight_of_a_whitelisted_origin(board_origin, settings, path):
    # A preflight carries no credentials, so it is answered even where reads need a token.
    settings.USAGE_API_PUBLIC = False

    response = APIClient().options(path, HTTP_ORIGIN=BOARD, **PREFLIGHT)

    assert response.status_code == 204
    assert response.content == b""
    assert _cors_headers(response) == {
        "Access-Control-Allow-Origin": BOARD,
        "Access-Control-Allow-Methods": "GET",
        "Access-Control-Allow-Headers": "authorization, content-type",
        "Access-Control-Max-Age": "600",
    }
    assert _varies_on_origin(response)


@pytest.mark.parametrize("path", WIDGET_READS)
def test_it_grants_a_get_from_a_whitelisted_origin(api_client, board_origin, path):
    response = api_client.get(path, HTTP_ORIGIN=BOARD)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == BOARD
    assert _varies_on_origin(response)


def test_it_echoes_the_origin_normalised_as_embeds_compare_it(api_client, board_origin):
    response = api_client.get("/api/usage/totals", HTTP_ORIGIN="https://BOARD.example.com:443")

    assert response["Access-Control-Allow-Origin"] == BOARD


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://board.example.com",
        "https://board.example.com:8443",
        "https://board.example.com.evil.example",
        "null",
    ],
)
def test_it_sends_no_cors_header_to_another_origin(api_client, board_origin, origin):
    get = api_client.get("/api/usage/totals", HTTP_ORIGIN=origin)
    preflight = api_client.options("/api/usage/totals", HTTP_ORIGIN=origin, **PREFLIGHT)

    assert get.status_code == 200  # the API is public; the browser keeps it from the page
    assert _cors_headers(get) == {}
    assert _varies_on_origin(get)
    assert preflight.status_code == 403
    assert preflight.json() == {"error": "This origin is not allowed to embed tokenfleet."}
    assert _cors_headers(preflight) == {}


def test_it_sends_no_cors_header_when_the_whitelist_is_empty(api_client, db):
    assert not EmbedOrigin.objects.exists()

    get = api_client.get("/api/usage/leaderboard", HTTP_ORIGIN=BOARD)
    preflight = api_client.options("/api/usage/leaderboard", HTTP_ORIGIN=BOARD, **PREFLIGHT)

    assert get.status_code == 200
    assert _cors_headers(get) == {}
    assert preflight.status_code == 403
    assert _cors_headers(preflight) == {}


def test_it_lets_a_whitelisted_page_read_why_a_request_failed(api_client, board_origin, settings):
    bad_limit = api_client.get("/api/usage/recent", {"limit": 0}, HTTP_ORIGIN=BOARD)
    unknown_user = api_client.get("/api/usage/users/mallory", HTTP_ORIGIN=BOARD)
    unknown_route = api_client.get("/api/usage/nothing-here", HTTP_ORIGIN=BOARD)
    settings.USAGE_API_PUBLIC = False
    no_token = api_client.get("/api/usage/totals", HTTP_ORIGIN=BOARD)

    for response, status in [
        (bad_limit, 400),
        (unknown_user, 404),
        (unknown_route, 404),
        (no_token, 401),
    ]:
        assert response.status_code == status
        assert response.json()["error"]
        assert response["Access-Control-Allow-Origin"] == BOARD
        assert _varies_on_origin(response)


def test_it_leaves_routes_outside_the_usage_reads_alone(api_client, board_origin, admin_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_token}")

    tokens = client.get("/api/admin/tokens", HTTP_ORIGIN=BOARD)
    preflight = api_client.options("/api/admin/tokens", HTTP_ORIGIN=BOARD, **PREFLIGHT)

    assert tokens.status_code == 200
    assert _cors_headers(tokens) == {}
    assert _cors_headers(preflight) == {}


def test_it_looks_the_origin_up_only_when_the_caller_sends_one(api_client, board_origin):
    # Server-to-server reads (no Origin, no Referer) cost no whitelist query; a page's read costs
    # exactly one, shared by the CORS headers and the embed-token rule.
    def queries(**headers) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api_client.get("/api/usage/totals", **headers).status_code == 200
        return len(captured)

    queries()  # warm-up
    plain = queries()
    assert queries(HTTP_ORIGIN=BOARD) == plain + 1
