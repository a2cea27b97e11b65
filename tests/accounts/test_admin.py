"""Django admin at /django-admin/: tokens (masked, revocable, audited), the audit log read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import ApiToken, AuditEvent
from accounts.services import token_issue

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "unused-pw-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def token() -> tuple[ApiToken, str]:
    return token_issue(user="bob", scope="ingest", label="laptop", actor="test")


def test_it_is_mounted_at_django_admin_not_admin(staff):
    assert staff.get("/django-admin/").status_code == 200
    assert Client().get("/django-admin/").status_code == 302  # to the login page
    assert "Django administration" in staff.get("/django-admin/").content.decode()
    assert "Django administration" not in staff.get("/admin/").content.decode()


def test_it_lists_tokens_by_hint_and_never_shows_the_plaintext(staff, token):
    row, plaintext = token
    page = staff.get("/django-admin/accounts/apitoken/")
    assert page.status_code == 200
    html = page.content.decode()
    assert row.hint in html and "bob" in html
    assert plaintext not in html
    detail = staff.get(f"/django-admin/accounts/apitoken/{row.pk}/change/")
    assert detail.status_code == 200 and plaintext not in detail.content.decode()


def test_it_filters_tokens_by_state(staff, token):
    row, _plaintext = token
    revoked = token_issue(user="carol", scope="read", actor="test")[0]
    staff.post(
        "/django-admin/accounts/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [revoked.pk]},
    )
    active = staff.get("/django-admin/accounts/apitoken/?state=active").content.decode()
    gone = staff.get("/django-admin/accounts/apitoken/?state=revoked").content.decode()
    assert "bob" in active and "carol" not in active
    assert "carol" in gone and "bob" not in gone


def test_it_cannot_add_or_delete_tokens_or_change_their_scope(staff, token):
    row, _plaintext = token
    assert staff.get("/django-admin/accounts/apitoken/add/").status_code == 403
    assert staff.get(f"/django-admin/accounts/apitoken/{row.pk}/delete/").status_code == 403
    staff.post(
        f"/django-admin/accounts/apitoken/{row.pk}/change/",
        {"user": "bob", "label": "renamed", "scope": "admin"},
    )
    row.refresh_from_db()
    assert row.label == "renamed" and row.scope == "ingest"


def test_it_revokes_selected_tokens_through_the_audited_service(staff, token):
    row, _plaintext = token
    response = staff.post(
        "/django-admin/accounts/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "Revoked 1 token(s)." in response.content.decode()
    row.refresh_from_db()
    assert row.revoked_at is not None
    event = AuditEvent.objects.get(action="token.revoke", meta__token_id=row.pk)
    assert event.actor == "staff:ops" and event.ip == "127.0.0.1"


def test_it_shows_the_audit_log_read_only(staff, token):
    event = AuditEvent.objects.get(action="token.issue")
    assert staff.get("/django-admin/accounts/auditevent/").status_code == 200
    assert staff.get(f"/django-admin/accounts/auditevent/{event.pk}/change/").status_code == 200
    assert staff.get("/django-admin/accounts/auditevent/add/").status_code == 403
    assert staff.get(f"/django-admin/accounts/auditevent/{event.pk}/delete/").status_code == 403
    staff.post(f"/django-admin/accounts/auditevent/{event.pk}/change/", {"action": "forged"})
    event.refresh_from_db()
    assert event.action == "token.issue"
