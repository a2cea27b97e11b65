"""`POST /auth` retrieve reads in a fixed number of queries (no query per digest or version)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

CANONICAL_AT = "2026-11-20T10:00:00.123456789Z"


# The kill switch; the key; the call count; the decision (canonical, host state, digests, pruned
# to three; each write in a savepoint); this month's usage (one aggregate); the version cache and
# its back-off claim; the quota snapshot (canonical, cooldown, last good, last attempt). The
# canonical login is read three times (decision, quota claim, quota answer): known, left open.
RETRIEVE_QUERIES = 22


def test_it_retrieves_in_a_fixed_number_of_queries(
    host_client, codex_auth, django_assert_num_queries
):
    auth = codex_auth(CANONICAL_AT)
    host_client.post("/auth", {"command": "store", "auth": auth}, format="json")
    body = {"command": "retrieve", "last_refresh": CANONICAL_AT, "digest": "a" * 64}
    host_client.post("/auth", body, format="json")  # quota and version back-offs are settled

    with django_assert_num_queries(RETRIEVE_QUERIES):
        response = host_client.post("/auth", body, format="json")

    assert response.json()["data"]["status"] == "outdated"
