"""Audit retention: accounts.services.audit_prune and manage.py prune_audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from accounts.models import AuditEvent
from accounts.services import audit_prune
from core.errors import ApplicationError

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def history():
    """One event at each age in days."""
    for days in (400, 366, 364, 31, 29, 0):
        AuditEvent.objects.create(action=f"test.age{days}", ts=NOW - timedelta(days=days))
    with time_machine.travel(NOW, tick=False):
        yield


def remaining() -> list[str]:
    return sorted(
        AuditEvent.objects.filter(action__startswith="test.").values_list("action", flat=True)
    )


@override_settings(AUDIT_RETENTION_DAYS=365)
def test_it_keeps_audit_retention_days_by_default(history):
    assert audit_prune() == 2
    assert remaining() == sorted(["test.age364", "test.age31", "test.age29", "test.age0"])


def test_it_takes_an_explicit_age(history):
    assert audit_prune(older_than_days=30) == 4
    assert remaining() == sorted(["test.age29", "test.age0"])


def test_it_records_a_prune_that_deleted_rows(history):
    audit_prune(older_than_days=30)
    event = AuditEvent.objects.get(action="audit.prune")
    assert event.meta["deleted"] == 4 and event.meta["older_than_days"] == 30
    assert event.actor == "system:retention"


def test_it_records_nothing_when_nothing_is_old_enough(history):
    assert audit_prune(older_than_days=1000) == 0
    assert not AuditEvent.objects.filter(action="audit.prune").exists()


def test_it_refuses_a_retention_below_one_day(history):
    with pytest.raises(ApplicationError):
        audit_prune(older_than_days=0)
    assert len(remaining()) == 6


@override_settings(AUDIT_RETENTION_DAYS=30)
def test_it_prints_a_one_line_summary(history):
    out = StringIO()
    call_command("prune_audit", stdout=out)
    assert out.getvalue() == "prune_audit: deleted 4 audit event(s) older than 30 days\n"
    out = StringIO()
    call_command("prune_audit", "--days", "1", stdout=out)
    assert out.getvalue() == "prune_audit: deleted 1 audit event(s) older than 1 days\n"


def test_it_reports_a_bad_days_value_as_a_command_error(history):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_audit", "--days", "0")
