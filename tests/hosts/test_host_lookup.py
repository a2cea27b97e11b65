"""hosts.selectors.host_by_key_hash: the ORM's answer, in one query written once."""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from core.hashing import sha256_hex
from hosts.models import Host, HostAuthState
from hosts.selectors import host_by_key_hash

pytestmark = pytest.mark.django_db


def orm_lookup(key: str) -> Host | None:
    return Host.objects.select_related("auth_state").filter(api_key_hash=sha256_hex(key)).first()


def test_it_loads_the_host_as_the_orm_does(host, host_key):
    Host.objects.filter(pk=host.pk).update(bound_ip="10.0.0.7", allow_roaming_ips=True)

    found = host_by_key_hash(sha256_hex(host_key))
    expected = orm_lookup(host_key)

    assert isinstance(found, Host)
    assert expected is not None
    assert model_to_dict(found) == model_to_dict(expected)
    assert (found.created_at, found.updated_at) == (expected.created_at, expected.updated_at)
    assert found.allow_roaming_ips is True
    assert found.created_at.tzinfo is not None
    assert found._state.adding is False


def test_it_brings_the_auth_state_along(host, host_key, django_assert_num_queries):
    HostAuthState.objects.create(
        host=host, last_refresh="2026-11-20T10:00:00Z", last_refresh_ns=5, digest="d" * 64
    )

    with django_assert_num_queries(1):
        found = host_by_key_hash(sha256_hex(host_key))
        assert found is not None
        state = found.auth_state
        assert state.host is found

    host_again = orm_lookup(host_key)
    assert host_again is not None
    expected = host_again.auth_state
    assert model_to_dict(state) == model_to_dict(expected)
    assert state.updated_at == expected.updated_at


def test_it_knows_a_host_without_auth_state_in_one_query(host, host_key, django_assert_num_queries):
    with django_assert_num_queries(1):
        found = host_by_key_hash(sha256_hex(host_key))
        assert found is not None
        with pytest.raises(HostAuthState.DoesNotExist):
            found.auth_state  # noqa: B018


def test_it_answers_none_for_an_unknown_key(host):
    assert host_by_key_hash(sha256_hex("tfh_unknown")) is None
