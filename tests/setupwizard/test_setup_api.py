"""`POST /api/setup/complete` and `POST /api/setup/reset` (admin token), as the contract says."""

from __future__ import annotations

import pytest
import time_machine

from accounts.models import AuditEvent
from setupwizard.models import SetupState

pytestmark = pytest.mark.django_db

NOW = "2026-11-29T12:00:00Z"


def test_it_completes_the_setup_with_an_admin_token(client_for, admin_token):
    with time_machine.travel(NOW, tick=False):
        response = client_for(admin_token).post(
            "/api/setup/complete", {"scenario": "team", "infra": "docker-compose"}, format="json"
        )

    assert response.status_code == 200
    assert response.json() == {
        "complete": True,
        "scenario": "team",
        "infra": "docker-compose",
        "completedAt": 1795953600000,
        "headless": False,
    }
    assert client_for(None).get("/api/setup/status").json() == response.json()
    event = AuditEvent.objects.get(action="setup.complete")
    assert event.actor.startswith("token:")
    assert event.meta == {"scenario": "team", "infra": "docker-compose"}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"scenario", "infra"}),
        ({"scenario": "team"}, {"infra"}),
        ({"scenario": "everyone", "infra": "single-node"}, {"scenario"}),
        ({"scenario": "solo", "infra": "docker"}, {"infra"}),
        ({"scenario": 1, "infra": ["kubernetes"]}, {"scenario", "infra"}),
    ],
)
def test_it_refuses_invalid_choices_with_400_naming_the_fields(
    client_for, admin_token, body, fields
):
    response = client_for(admin_token).post("/api/setup/complete", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "Invalid request."
    assert set(response.json()["fields"]) == fields
    assert not SetupState.objects.exists()
    assert not AuditEvent.objects.filter(action="setup.complete").exists()


def test_it_refuses_a_body_that_is_not_an_object(client_for, admin_token):
    response = client_for(admin_token).post("/api/setup/complete", ["team"], format="json")

    assert response.status_code == 400
    assert "fields" in response.json()


def test_it_refuses_malformed_json(client_for, admin_token):
    response = client_for(admin_token).post(
        "/api/setup/complete", "{", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Malformed JSON body."}


@pytest.mark.parametrize("path", ["/api/setup/complete", "/api/setup/reset"])
def test_it_needs_a_token(client_for, path):
    response = client_for(None).post(path, {"scenario": "solo", "infra": "headless"}, format="json")

    assert response.status_code == 401
    assert response.json()["error"]


@pytest.mark.parametrize("path", ["/api/setup/complete", "/api/setup/reset"])
def test_it_needs_the_admin_scope(client_for, read_token, alice_ingest_token, embed_token, path):
    for token in (read_token, alice_ingest_token, embed_token):
        response = client_for(token).post(
            path, {"scenario": "solo", "infra": "headless"}, format="json"
        )
        assert response.status_code == 403, token[:3]
    assert not SetupState.objects.exists()


@pytest.mark.parametrize("path", ["/api/setup/complete", "/api/setup/reset"])
def test_it_answers_only_post(client_for, admin_token, path):
    response = client_for(admin_token).get(path)

    assert response.status_code == 405
    assert response.json()["error"]


def test_completing_again_records_the_new_choices(client_for, admin_token):
    client = client_for(admin_token)
    client.post("/api/setup/complete", {"scenario": "solo", "infra": "single-node"}, format="json")

    response = client.post(
        "/api/setup/complete", {"scenario": "org", "infra": "kubernetes"}, format="json"
    )

    assert response.json()["scenario"] == "org"
    assert response.json()["infra"] == "kubernetes"
    assert SetupState.objects.count() == 1
    assert AuditEvent.objects.filter(action="setup.complete").count() == 2


def test_it_resets_the_setup_state(client_for, admin_token):
    client = client_for(admin_token)
    client.post("/api/setup/complete", {"scenario": "team", "infra": "headless"}, format="json")

    response = client.post("/api/setup/reset")

    assert response.status_code == 200
    assert response.json() == {
        "complete": False,
        "scenario": None,
        "infra": None,
        "completedAt": None,
        "headless": False,
    }
    assert client_for(None).get("/api/setup/status").json()["complete"] is False
    event = AuditEvent.objects.get(action="setup.reset")
    assert event.meta == {"previous": {"complete": True, "scenario": "team", "infra": "headless"}}


def test_a_reset_before_any_setup_is_harmless_and_audited(client_for, admin_token):
    response = client_for(admin_token).post("/api/setup/reset")

    assert response.status_code == 200
    assert response.json()["complete"] is False
    assert AuditEvent.objects.get(action="setup.reset").meta == {"previous": None}


def test_status_says_headless_and_the_api_still_works(client_for, admin_token, settings):
    settings.HEADLESS = True

    response = client_for(admin_token).post(
        "/api/setup/complete", {"scenario": "solo", "infra": "headless"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["headless"] is True
    assert client_for(None).get("/api/setup/status").json()["headless"] is True
