"""Every form of the login and the setup wizard refuses a POST without its CSRF token, and
takes it with the token (a session-authenticated browser, `enforce_csrf_checks=True`)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-dashboard-passphrase-3"

# (path, a valid form) for a signed-in staff user.
STAFF_FORMS = [
    ("/logout/", {}),
    ("/setup/scenario/", {"scenario": "solo", "infra": "single-node"}),
    ("/setup/machines/", {"method": "skip"}),
    ("/setup/embed/", {"origin": "https://a.example.com"}),
    ("/setup/finish/", {}),
]
# (path, a form) on a fresh install, signed out.
FRESH_FORMS = [
    ("/setup/", {"code": "AAAA-BBBB-CCCC", "username": "x", "password1": "y", "password2": "y"}),
    ("/setup/new-code/", {}),
]


@pytest.fixture
def staff_browser(django_user_model) -> Client:
    user = django_user_model.objects.create_user("boss", password=PASSWORD, is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get("/setup/scenario/")  # a page with a form: sets the CSRF cookie
    return client


@pytest.mark.parametrize(("path", "form"), STAFF_FORMS)
def test_staff_forms_refuse_a_post_without_the_token(staff_browser, path, form):
    response = staff_browser.post(path, form)

    assert response.status_code == 403
    assert b"security token" in response.content


@pytest.mark.parametrize(("path", "form"), STAFF_FORMS)
def test_staff_forms_refuse_a_wrong_token(staff_browser, path, form):
    response = staff_browser.post(path, {**form, "csrfmiddlewaretoken": "x" * 64})

    assert response.status_code == 403


@pytest.mark.parametrize(("path", "form"), STAFF_FORMS)
def test_staff_forms_take_a_post_with_the_token(staff_browser, path, form):
    token = staff_browser.cookies["csrftoken"].value

    response = staff_browser.post(path, {**form, "csrfmiddlewaretoken": token})

    assert response.status_code in (200, 302)


@pytest.mark.parametrize(("path", "form"), FRESH_FORMS)
def test_fresh_install_forms_refuse_a_post_without_the_token(path, form):
    client = Client(enforce_csrf_checks=True)
    client.get("/setup/")

    assert client.post(path, form).status_code == 403
    token = client.cookies["csrftoken"].value
    assert client.post(path, {**form, "csrfmiddlewaretoken": token}).status_code in (200, 302)


def test_every_wizard_form_carries_the_token(staff_browser):
    for path in ("/setup/scenario/", "/setup/machines/", "/setup/embed/", "/setup/finish/"):
        page = staff_browser.get(path)
        assert page.status_code == 200, path
        assert page.content.count(b"<form") == page.content.count(b"csrfmiddlewaretoken"), path
