"""The one-time setup code: one per fresh install, hashed, shared by every worker."""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import connection

from core.errors import ApplicationError
from setupwizard import services
from setupwizard.models import SetupCode
from tests.setupwizard.conftest import CODE_RE

pytestmark = pytest.mark.django_db


def test_only_the_first_caller_makes_and_prints_a_code(caplog):
    with caplog.at_level(logging.WARNING, logger="tokenfleet.setup"):
        assert services.setup_code_ensure() is True
        assert services.setup_code_ensure() is False

    assert len(CODE_RE.findall(caplog.text)) == 1
    assert SetupCode.objects.count() == 1


def test_codes_are_three_groups_of_unambiguous_characters():
    code = services.setup_code_issue(reason="test")

    assert CODE_RE.fullmatch(f"tokenfleet setup code: {code}")
    assert len(code) == 14 and code.count("-") == 2
    assert not set(code) & set("01ILO")


def test_no_code_once_an_admin_exists(django_user_model):
    django_user_model.objects.create_user("root", password="x", is_staff=True)

    assert services.setup_code_ensure() is False
    with pytest.raises(ApplicationError) as refused:
        services.setup_code_issue(reason="test")
    assert refused.value.status_code == 409
    assert not SetupCode.objects.exists()


def test_a_used_code_is_replaced_when_no_admin_is_left(django_user_model, caplog):
    code = services.setup_code_issue(reason="test")
    user = services.setup_admin_create(code=code, username="ada", password="pw-long-enough-1")
    user.delete()

    with caplog.at_level(logging.WARNING, logger="tokenfleet.setup"):
        assert services.setup_code_ensure() is True
    fresh = CODE_RE.findall(caplog.text)[-1]

    with pytest.raises(ApplicationError):
        services.setup_admin_create(code=code, username="eve", password="pw-long-enough-1")
    assert services.setup_admin_create(code=fresh, username="bob", password="pw-long-enough-1")


def test_the_admin_is_created_once_for_one_code(django_user_model):
    code = services.setup_code_issue(reason="test")
    services.setup_admin_create(code=code, username="ada", password="pw-long-enough-1")

    with pytest.raises(ApplicationError) as refused:
        services.setup_admin_create(code=code, username="eve", password="pw-long-enough-1")

    assert refused.value.status_code == 409
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["ada"]


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_print_one_code():
    made: list[bool] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        try:
            made.append(services.setup_code_ensure())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(made) == [False, False, False, True]
    assert SetupCode.objects.count() == 1
