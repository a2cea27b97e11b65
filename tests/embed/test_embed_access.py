"""Token, origin and CORS rules, the same for both embed routes."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.embed.conftest import BOARD

pytestmark = pytest.mark.django_db

ROUTES = ["/embed/totals", "/embed/stream"]


def _get(path, *, token=None, bearer=None, **headers):
    client = APIClient()
    if bearer:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {bearer}")
    url = f"{path}?token={token}" if token else path
    return client.get(url, **headers)


@pytest.mark.parametrize("path", ROUTES)
@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"HTTP_ORIGIN": BOARD}, True),
        ({"HTTP_ORIGIN": "https://Board.Example.COM"}, True),
        ({"HTTP_ORIGIN": "https://board.example.com:443"}, True),
        ({"HTTP_ORIGIN": "https://board.example.com/"}, True),
        ({"HTTP_REFERER": "https://board.example.com/wall?screen=2"}, True),
        ({"HTTP_REFERER": "https://BOARD.example.com:443/"}, True),
        ({"HTTP_ORIGIN": "https://evil.example"}, False),
        ({"HTTP_ORIGIN": "http://board.example.com"}, False),
        ({"HTTP_ORIGIN": "https://board.example.com:8443"}, False),
        ({"HTTP_ORIGIN": "https://board.example.com.evil.example"}, False),
        ({"HTTP_ORIGIN": "null", "HTTP_REFERER": f"{BOARD}/wall"}, False),
        ({"HTTP_REFERER": "https://evil.example/board.example.com"}, False),
        ({"HTTP_ORIGIN": "https://evil.example", "HTTP_REFERER": f"{BOARD}/"}, False),
        ({}, False),
    ],
)
def test_it_needs_a_whitelisted_origin(board_origin, embed_token, path, headers, allowed):
    response = _get(path, token=embed_token, **headers)
    if allowed:
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == BOARD
    else:
        assert response.status_code == 403
        assert response.json() == {"error": "This origin is not allowed to embed tokenfleet."}
        assert "Access-Control-Allow-Origin" not in response
    assert "Origin" in response["Vary"]


@pytest.mark.parametrize("path", ROUTES)
def test_it_accepts_the_token_as_bearer_and_an_admin_token(
    board_origin, embed_token, admin_token, path
):
    assert _get(path, bearer=embed_token, HTTP_ORIGIN=BOARD).status_code == 200
    assert _get(path, token=admin_token, HTTP_ORIGIN=BOARD).status_code == 200


@pytest.mark.parametrize("path", ROUTES)
def test_it_needs_an_embed_token(board_origin, read_token, alice_ingest_token, path):
    missing = _get(path, HTTP_ORIGIN=BOARD)
    assert missing.status_code == 401
    # A whitelisted page may read why it failed.
    assert missing["Access-Control-Allow-Origin"] == BOARD
    assert _get(path, token="we_" + "x" * 43, HTTP_ORIGIN=BOARD).status_code == 401
    assert _get(path, token=read_token, HTTP_ORIGIN=BOARD).status_code == 403
    assert _get(path, token=alice_ingest_token, HTTP_ORIGIN=BOARD).status_code == 403


@pytest.mark.parametrize("path", ROUTES)
def test_it_answers_the_preflight_of_a_whitelisted_origin_only(board_origin, path):
    client = APIClient()
    preflight: dict[str, Any] = {
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "authorization",
    }
    ok = client.options(path, HTTP_ORIGIN="https://BOARD.example.com", **preflight)
    assert ok.status_code == 204
    assert ok["Access-Control-Allow-Origin"] == BOARD
    assert "GET" in ok["Access-Control-Allow-Methods"]
    allowed_headers = [h.strip().lower() for h in ok["Access-Control-Allow-Headers"].split(",")]
    assert "authorization" in allowed_headers
    assert int(ok["Access-Control-Max-Age"]) > 0
    assert "Origin" in ok["Vary"]

    refused = client.options(path, HTTP_ORIGIN="https://evil.example", **preflight)
    assert refused.status_code == 403
    assert not any(name.startswith("Access-Control-") for name in refused.headers)
    assert client.options(path, **preflight).status_code == 403


@pytest.mark.parametrize("path", ROUTES)
def test_it_stops_answering_an_origin_once_it_is_removed(
    client_for, admin_token, board_origin, embed_token, path
):
    assert _get(path, token=embed_token, HTTP_ORIGIN=BOARD).status_code == 200
    assert (
        client_for(admin_token).delete(f"/api/admin/embed-origins/{board_origin.pk}").status_code
        == 204
    )
    assert _get(path, token=embed_token, HTTP_ORIGIN=BOARD).status_code == 403


@pytest.mark.parametrize("path", ROUTES)
def test_it_rate_limits_per_token_and_client_ip(settings, board_origin, embed_token, path):
    settings.RATE_LIMIT_PER_MINUTE = 3
    url = f"{path}?token={embed_token}"
    busy = APIClient(REMOTE_ADDR="10.0.0.1")
    for _ in range(3):
        assert busy.get(url, HTTP_ORIGIN=BOARD).status_code == 200
    limited = busy.get(url, HTTP_ORIGIN=BOARD)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) >= 1
    assert limited["Access-Control-Allow-Origin"] == BOARD
    # Another screen with the same token, and the same screen with another token, still work.
    assert APIClient(REMOTE_ADDR="10.0.0.2").get(url, HTTP_ORIGIN=BOARD).status_code == 200
