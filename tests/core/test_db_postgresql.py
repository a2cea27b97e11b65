"""core.db.postgresql: Django's per-request health check, skipped for a connection in steady use.

Each test drives a connection of its own (not the test's transaction) through the request cycle
as Django's close_old_connections does: the check as the request starts, a query, the check as it
finishes."""

from __future__ import annotations

import pytest
from django.db import connection, connections

from core.db.postgresql.base import HEALTH_CHECK_AFTER_IDLE

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's backend"),
]


@pytest.fixture
def wrapper(monkeypatch):
    own = connections.create_connection("default")
    # Persistent, as gunicorn's threads keep theirs (DB_CONN_MAX_AGE); a copy, not the shared dict.
    own.settings_dict = {**own.settings_dict, "CONN_MAX_AGE": 60}
    own.pings = []  # type: ignore[attr-defined]
    is_usable = own.is_usable

    def counted() -> bool:
        own.pings.append(1)  # type: ignore[attr-defined]
        return is_usable()

    monkeypatch.setattr(own, "is_usable", counted)
    yield own
    own.close()


def serve(wrapper) -> int:
    """One request's use of the connection; the backend process that answered it."""
    wrapper.close_if_unusable_or_obsolete()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    wrapper.close_if_unusable_or_obsolete()
    return pid


def test_it_is_the_configured_backend():
    assert connection.settings_dict["ENGINE"] == "core.db.postgresql"
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_it_does_not_ping_a_connection_in_steady_use(wrapper):
    first = serve(wrapper)
    assert [serve(wrapper) for _ in range(3)] == [first] * 3
    assert wrapper.pings == []


def test_it_pings_a_connection_that_sat_idle(wrapper):
    first = serve(wrapper)
    wrapper.proven_at -= HEALTH_CHECK_AFTER_IDLE

    assert serve(wrapper) == first
    assert wrapper.pings == [1]


def test_it_replaces_an_idle_connection_the_server_dropped(wrapper):
    dropped = serve(wrapper)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [dropped])
    wrapper.proven_at -= HEALTH_CHECK_AFTER_IDLE

    assert serve(wrapper) != dropped  # pinged, closed, reconnected: no error for the request
    assert wrapper.pings == [1]


def test_it_does_not_take_a_failed_request_as_proof(wrapper):
    serve(wrapper)
    wrapper.proven_at -= HEALTH_CHECK_AFTER_IDLE
    stale = wrapper.proven_at
    wrapper.close_if_unusable_or_obsolete()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
    wrapper.errors_occurred = True  # as a database error in the request sets it
    wrapper.close_if_unusable_or_obsolete()  # the request's end

    assert wrapper.proven_at == stale  # not proof; Django's own check at the end ran instead
    assert wrapper.pings == [1, 1]
