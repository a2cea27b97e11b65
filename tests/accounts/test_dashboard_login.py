"""`/login/` and `/logout/`: staff only, CSRF enforced, failures limited and audited."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-dashboard-passphrase-3"


@pytest.fixture
def browser() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("boss", password=PASSWORD, is_staff=True)


def login(client: Client, username: str, password: str, next_url: str = ""):
    page = client.get("/login/" + (f"?next={next_url}" if next_url else ""))
    assert page.status_code == 200
    return client.post(
        "/login/",
        {
            "username": username,
            "password": password,
            "next": next_url,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )


def test_staff_sign_in_and_land_where_they_were_going(browser, staff):
    response = login(browser, "boss", PASSWORD, next_url="/setup/finish/")

    assert response.status_code == 302
    assert response["Location"] == "/setup/finish/"
    assert browser.get("/").status_code == 200


def test_staff_land_on_the_dashboard_by_default(browser, staff):
    response = login(browser, "boss", PASSWORD)

    assert response["Location"] == "/"


def test_a_foreign_next_url_is_ignored(browser, staff):
    response = login(browser, "boss", PASSWORD, next_url="https://evil.example.com/")

    assert response["Location"] == "/"


def test_a_user_who_is_not_staff_cannot_sign_in(browser, staff, django_user_model):
    django_user_model.objects.create_user("joe", password=PASSWORD)

    response = login(browser, "joe", PASSWORD)

    assert response.status_code == 200
    assert b"not a staff account" in response.content
    assert "_auth_user_id" not in browser.session


def test_a_wrong_password_is_refused_and_audited(browser, staff):
    response = login(browser, "boss", "wrong-password-entirely")

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    event = AuditEvent.objects.get(action="auth.failed")
    assert event.meta["credential"] == "password"
    assert event.meta["username"] == "boss"
    assert "wrong-password" not in str(event.meta)


def test_failed_sign_ins_are_limited_per_address(browser, staff, settings):
    settings.AUTH_FAIL_LIMIT = 3
    for _ in range(3):
        login(browser, "boss", "wrong-password-entirely")

    response = login(browser, "boss", PASSWORD)

    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in browser.session


def test_the_login_page_leads_to_the_wizard_on_a_fresh_install(client):
    response = client.get("/login/")

    assert response.status_code == 302
    assert response["Location"] == "/setup/"


def test_a_signed_in_staff_user_skips_the_form(staff):
    client = Client()
    client.force_login(staff)

    assert client.get("/login/")["Location"] == "/"


def test_a_signed_in_user_who_is_not_staff_sees_the_form_with_a_note(staff, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("joe", password=PASSWORD))

    response = client.get("/login/")

    assert response.status_code == 200
    assert b"not a staff account" in response.content


def test_sign_out_is_a_post_with_the_csrf_token(browser, staff):
    login(browser, "boss", PASSWORD)
    page = browser.get("/")
    assert b'action="/logout/"' in page.content

    assert browser.get("/logout/").status_code == 405
    assert browser.post("/logout/").status_code == 403  # no token
    response = browser.post("/logout/", {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value})

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert browser.get("/")["Location"] == "/login/?next=/"


def test_a_login_post_without_the_csrf_token_is_a_403_page(browser, staff):
    browser.get("/login/")

    response = browser.post("/login/", {"username": "boss", "password": PASSWORD})

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert b"security token" in response.content
    assert "_auth_user_id" not in browser.session
