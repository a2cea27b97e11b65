"""Errors in both dialects: JSON 404/405/500 (never an HTML page, also with DEBUG on), validation,
application errors, and the request id that a 500 body and its log line share."""

from __future__ import annotations

import logging

import pytest
from django.test import Client, override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.probe_urls")]


@pytest.fixture
def client() -> Client:
    # Django's test client re-raises a view's exception unless told to answer like a server.
    return Client(raise_request_exception=False)


USAGE_404 = {"error": "Not found."}
FLEET_404 = {"status": "error", "message": "Not found."}


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/no-such-route", USAGE_404),
        ("/api/admin/tokens/12/extra", USAGE_404),
        ("/embed/nothing-here", USAGE_404),
        ("/metrics/sub", USAGE_404),
        ("/admin/no-such-route", FLEET_404),
        ("/auth/nothing", FLEET_404),
        ("/slash-commands/none/here", FLEET_404),
        ("/install/", FLEET_404),
    ],
)
def test_it_answers_unknown_api_routes_with_json_404(client, path, expected, debug):
    with override_settings(DEBUG=debug):
        response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == expected


@pytest.mark.parametrize("debug", [False, True])
def test_it_answers_a_missing_object_in_an_api_view_with_json_404(client, debug):
    with override_settings(DEBUG=debug):
        usage = client.get("/api/probe/finds-nothing")
        fleet = client.get("/admin/probe/finds-nothing")
    assert (usage.status_code, usage.json()) == (404, USAGE_404)
    assert (fleet.status_code, fleet.json()) == (404, FLEET_404)


@pytest.mark.parametrize("debug", [False, True])
def test_it_leaves_html_pages_alone(client, debug):
    with override_settings(DEBUG=debug):
        response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_it_answers_405_from_a_plain_view_as_json_with_allow(client):
    response = client.post("/health")
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed."}
    assert "GET" in response["Allow"]


def test_it_answers_405_from_an_api_view_in_its_dialect(client_for, admin_token):
    client = client_for(admin_token)
    usage = client.patch("/api/admin/audit", {}, format="json")
    assert usage.status_code == 405
    assert usage.json() == {"error": 'Method "PATCH" not allowed.'}
    fleet = client.put("/admin/probe/fleet-admin", {}, format="json")
    assert fleet.status_code == 405
    assert fleet.json() == {"status": "error", "message": 'Method "PUT" not allowed.'}


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    ("path", "id_key", "envelope"),
    [
        ("/api/probe/boom", "requestId", {"error": "Internal server error."}),
        ("/api/probe/plain-boom", "requestId", {"error": "Internal server error."}),
        (
            "/admin/probe/boom",
            "request_id",
            {"status": "error", "message": "Internal server error."},
        ),
        (
            "/admin/probe/plain-boom",
            "request_id",
            {"status": "error", "message": "Internal server error."},
        ),
    ],
)
def test_it_answers_500_as_json_with_the_request_id_it_logs(
    client, caplog, path, id_key, envelope, debug
):
    with override_settings(DEBUG=debug), caplog.at_level(logging.ERROR):
        response = client.get(path)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    request_id = body.pop(id_key)
    assert body == envelope
    assert len(request_id) == 32 and response["X-Request-Id"] == request_id
    assert "boom" not in response.content.decode()  # no traceback or message leaks
    logged = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert any(request_id in record.getMessage() for record in logged)
    assert any(record.exc_info and "boom" in str(record.exc_info[1]) for record in logged)


@override_settings(TRUSTED_PROXIES=["::1/128"])
def test_it_keeps_a_request_id_from_a_trusted_proxy_only(client):
    trusted = client.get("/api/probe/boom", HTTP_X_REQUEST_ID="edge-4f2a9c1d", REMOTE_ADDR="::1")
    assert trusted.json()["requestId"] == "edge-4f2a9c1d"
    assert trusted["X-Request-Id"] == "edge-4f2a9c1d"
    stranger = client.get(
        "/api/probe/boom", HTTP_X_REQUEST_ID="edge-4f2a9c1d", REMOTE_ADDR="203.0.113.9"
    )
    assert stranger.json()["requestId"] != "edge-4f2a9c1d"
    unsafe = client.get("/api/probe/boom", HTTP_X_REQUEST_ID="a b\nc" * 3)
    assert unsafe.json()["requestId"] != "a b\nc" * 3


def test_it_gives_every_response_a_request_id(client):
    first, second = client.get("/health"), client.get("/health")
    assert first["X-Request-Id"] and first["X-Request-Id"] != second["X-Request-Id"]


def test_it_renders_validation_errors_with_fields_in_the_usage_dialect(client):
    response = client.post(
        "/api/probe/validation", {"name": "toolong", "count": 0}, content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid request."
    assert set(body["fields"]) == {"name", "count"}
    assert "5" in body["fields"]["name"]


def test_it_renders_validation_errors_as_422_envelopes_in_the_fleet_dialect(client):
    response = client.post("/admin/probe/validation", {}, content_type="application/json")
    assert response.status_code == 422
    assert response.json() == {
        "status": "error",
        "message": "Validation failed.",
        "errors": {"name": ["This field is required."], "count": ["This field is required."]},
    }


def test_it_renders_malformed_json_as_400_in_both_dialects(client):
    usage = client.post("/api/probe/validation", "{", content_type="application/json")
    assert (usage.status_code, usage.json()) == (400, {"error": "Malformed JSON body."})
    fleet = client.post("/admin/probe/validation", "{", content_type="application/json")
    assert fleet.status_code == 400
    assert fleet.json() == {"status": "error", "message": "Malformed JSON body."}


def test_it_renders_an_application_error_in_each_dialect(client):
    usage = client.get("/api/probe/app-error")
    assert usage.status_code == 409 and usage["X-Why"] == "test"
    assert usage.json() == {"error": "Not today.", "fields": {"when": "Tomorrow."}}
    fleet = client.get("/admin/probe/app-error")
    assert fleet.status_code == 409 and fleet["X-Why"] == "test"
    assert fleet.json() == {
        "status": "error",
        "message": "Not today.",
        "errors": {"when": ["Tomorrow."]},
    }


def test_it_answers_a_suspicious_request_with_json_400(client):
    response = client.get("/api/probe/suspicious")
    assert response.status_code == 400
    assert response.json() == {"error": "Bad request."}


def test_it_answers_a_disallowed_host_with_json_400(client):
    response = client.get("/api/admin/tokens", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {"error": "Bad request."}


def test_it_passes_a_non_html_error_body_through(client):
    response = client.get("/install/probe-expired")
    assert response.status_code == 404
    assert response["Content-Type"] == "text/x-sh"
    assert response.content.startswith(b"echo")
