"""The admin token list reads in a fixed number of queries, however many tokens there are."""

from __future__ import annotations

import pytest

from accounts.services import token_issue

pytestmark = pytest.mark.django_db

# The caller's token, then the list (no query per row).
TOKEN_LIST_QUERIES = 2


@pytest.mark.parametrize("count", [1, 40])
def test_it_lists_tokens_in_a_fixed_number_of_queries(
    client_for, admin_token, django_assert_num_queries, count
):
    for number in range(count):
        token_issue(user=f"user-{number}", scope="read", label="budget")
    client = client_for(admin_token)
    client.get("/api/admin/tokens")  # the caller's last_used_at is written once a minute

    with django_assert_num_queries(TOKEN_LIST_QUERIES):
        response = client.get("/api/admin/tokens")

    assert len(response.json()["tokens"]) == count + 1
