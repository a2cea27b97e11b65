"""GET /health: 200 while the database answers, 503 when it does not."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import Client


@pytest.mark.django_db
def test_it_answers_200_when_the_database_answers():
    response = Client().get("/health")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": "ok"}


@pytest.mark.django_db
def test_it_answers_head_for_load_balancers():
    assert Client().head("/health").status_code == 200


@pytest.mark.django_db
def test_it_needs_no_credential_and_ignores_a_bad_one():
    response = Client().get("/health", HTTP_AUTHORIZATION="Bearer wa_" + "x" * 43)
    assert response.status_code == 200


@pytest.fixture
def unreachable_database(transactional_db, tmp_path):
    """Point the connection at a database that cannot be reached, then restore it."""
    original = dict(connection.settings_dict)
    # Detach rather than close: closing an in-memory SQLite test database would drop it.
    saved = connection.connection
    connection.connection = None
    if connection.vendor == "sqlite":
        # A file inside a directory that does not exist cannot be opened.
        connection.settings_dict["NAME"] = str(tmp_path / "missing" / "db.sqlite3")
    else:
        connection.settings_dict["HOST"] = "127.0.0.1"
        connection.settings_dict["PORT"] = "9"  # discard port: connection refused
    try:
        yield
    finally:
        if connection.connection is not None:
            connection.connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
        connection.connection = saved


def test_it_answers_503_when_the_database_is_unreachable(unreachable_database, caplog):
    with caplog.at_level(logging.ERROR, logger="tokenfleet.health"):
        response = Client().get("/health")
    assert response.status_code == 503
    assert response.json() == {"ok": False, "database": "unreachable"}
    assert "database unreachable" in caplog.text
