from __future__ import annotations

from datetime import UTC, datetime

import pytest

from setupwizard.models import SetupState

pytestmark = pytest.mark.django_db


def test_it_answers_not_complete_before_the_wizard_has_run(api_client):
    response = api_client.get("/api/setup/status")

    assert response.status_code == 200
    assert response.json() == {
        "complete": False,
        "scenario": None,
        "infra": None,
        "completedAt": None,
        "headless": False,
    }


def test_it_reports_the_headless_setting(api_client, settings):
    settings.HEADLESS = True

    assert api_client.get("/api/setup/status").json()["headless"] is True


def test_it_reports_a_completed_setup_with_its_time_in_epoch_ms(api_client):
    done = datetime(2026, 11, 20, 9, 30, 0, 250_000, tzinfo=UTC)
    SetupState.objects.create(
        pk=SetupState.SINGLETON_PK,
        complete=True,
        scenario="team",
        infra="docker",
        completed_at=done,
    )

    assert api_client.get("/api/setup/status").json() == {
        "complete": True,
        "scenario": "team",
        "infra": "docker",
        "completedAt": int(done.timestamp() * 1000),
        "headless": False,
    }


def test_it_is_public_whatever_credential_comes_along(api_client, settings, client_for):
    settings.USAGE_API_PUBLIC = False

    assert api_client.get("/api/setup/status").status_code == 200
    # A stale token left in the dashboard's storage must not hide the wizard's state.
    assert client_for("wa_" + "x" * 43).get("/api/setup/status").status_code == 200


def test_it_answers_only_get(api_client):
    response = api_client.post("/api/setup/status", {}, format="json")

    assert response.status_code == 405
    assert response.json()["error"]
