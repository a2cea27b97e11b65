"""`POST /auth` retrieve reads in a fixed number of queries (no query per digest or version)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

CANONICAL_AT = "2026-11-20T10:00:00.123456789Z"


# The fleet state (kill switch, published quota and version, canonical identity: two queries,
# none when Redis holds the snapshot); the key with the host's auth state; the canonical body
# (an `outdated` answer sends it); this month's usage (one aggregate). No write: the call count
# waits in the cache and the host's unchanged state is rewritten at most once a minute.
RETRIEVE_QUERIES = 6


def test_it_retrieves_in_a_fixed_number_of_queries(
    host_client, codex_auth, django_assert_max_num_queries
):
    auth = codex_auth(CANONICAL_AT)
    host_client.post("/auth", {"command": "store", "auth": auth}, format="json")
    body = {"command": "retrieve", "last_refresh": CANONICAL_AT, "digest": "a" * 64}
    host_client.post("/auth", body, format="json")  # quota and version back-offs are settled

    with django_assert_max_num_queries(RETRIEVE_QUERIES):
        response = host_client.post("/auth", body, format="json")

    assert response.json()["data"]["status"] == "outdated"
