from __future__ import annotations

import re

import pytest
from django.test import Client

PASSWORD = "a-long-setup-passphrase-9"
CODE_RE = re.compile(r"tokenfleet setup code: ([A-Z0-9-]+)")


def csrf_post(client: Client, path: str, data: dict | None = None, **kwargs):
    """POST a form the way a browser does: with the CSRF token from a GET of the same page."""
    client.get(path if path != "/setup/new-code/" else "/setup/")
    token = client.cookies["csrftoken"].value
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": token}, **kwargs)


@pytest.fixture
def browser_client(db) -> Client:
    """A Django test client that enforces CSRF like a real browser session would."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def setup_code(db) -> str:
    from setupwizard.services import setup_code_issue

    return setup_code_issue(reason="test")


@pytest.fixture
def staff_client(db, django_user_model) -> Client:
    django_user_model.objects.create_user(
        "root", password=PASSWORD, is_staff=True, is_superuser=True
    )
    client = Client(enforce_csrf_checks=True)
    client.login(username="root", password=PASSWORD)
    return client
