"""Who may open the HTML pages: signed out, non-staff, staff, and the mTLS rule."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.dashboard_urls")]

PASSWORD = "a-long-dashboard-passphrase-3"
PAGES = ["/", "/probe/overview/", "/probe/class/"]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("boss", password=PASSWORD, is_staff=True)


@pytest.fixture
def member(django_user_model):
    return django_user_model.objects.create_user("joe", password=PASSWORD)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_on_a_fresh_install_goes_to_the_setup_wizard(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == "/setup/"


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_goes_to_the_login_page_once_staff_exists(client, staff, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={path}"


def test_an_inactive_staff_user_does_not_count_as_set_up(client, staff):
    staff.is_active = False
    staff.save()

    assert client.get("/")["Location"] == "/setup/"


@pytest.mark.parametrize("path", PAGES)
def test_a_signed_in_user_who_is_not_staff_gets_403_in_the_site_style(member, staff, path):
    response = signed_in(member).get(path)

    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert b"Only staff users may open the dashboard." in response.content
    assert b"site.css" in response.content


@pytest.mark.parametrize("path", PAGES)
def test_staff_see_the_page(staff, path):
    assert signed_in(staff).get(path).status_code == 200


def test_the_navigation_lists_the_dashboard_pages_that_exist(staff):
    response = signed_in(staff).get("/probe/hosts/")

    nav = response.context["nav"]
    assert [(item["name"], item["url"]) for item in nav] == [
        ("dashboard:overview", "/probe/overview/"),
        ("dashboard:hosts", "/probe/hosts/"),
    ]
    assert [item["active"] for item in nav] == [False, True]
    assert b'href="/probe/hosts/" aria-current="page"' in response.content


def test_a_detail_page_lights_up_its_section(staff):
    nav = signed_in(staff).get("/probe/hosts/1/").context["nav"]

    assert [item["name"] for item in nav if item["active"]] == ["dashboard:hosts"]


def test_signed_out_pages_show_no_navigation(client, staff):
    response = client.get("/login/")

    assert response.context["nav"] == []
    assert b"site-nav" not in response.content


# --- DASHBOARD_REQUIRE_MTLS ----------------------------------------------------------------------


@pytest.fixture
def mtls(settings):
    settings.DASHBOARD_REQUIRE_MTLS = True
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]


def test_with_mtls_required_staff_without_a_certificate_get_403(staff, mtls):
    response = signed_in(staff).get("/")

    assert response.status_code == 403
    assert b"client certificate" in response.content


def test_with_mtls_required_the_header_from_a_trusted_proxy_lets_staff_in(staff, mtls):
    client = signed_in(staff)

    assert client.get("/", HTTP_X_MTLS_PRESENT="SUCCESS").status_code == 200
    assert client.get("/", HTTP_X_MTLS_PRESENT="FAILED:expired").status_code == 403
    assert client.get("/", HTTP_X_MTLS_PRESENT="NONE").status_code == 403


def test_with_mtls_required_the_header_from_anyone_else_counts_for_nothing(staff, mtls):
    response = signed_in(staff).get("/", HTTP_X_MTLS_PRESENT="1", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 403


def test_with_mtls_required_the_login_and_setup_pages_need_it_too(client, staff, mtls):
    assert client.get("/login/").status_code == 403
    assert client.get("/setup/").status_code == 403
    assert client.get("/login/", HTTP_X_MTLS_PRESENT="1").status_code == 200


def test_mtls_does_not_replace_the_login(client, staff, mtls):
    response = client.get("/", HTTP_X_MTLS_PRESENT="1")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


# --- HTML error pages; API prefixes stay JSON ----------------------------------------------------


def test_an_unknown_html_route_is_a_404_page_in_the_site_style(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"Page not found" in response.content and b"site.css" in response.content


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/no-such-route", {"error": "Not found."}),
        ("/embed/no-such-route", {"error": "Not found."}),
        ("/admin/no-such-route", {"status": "error", "message": "Not found."}),
        ("/install", {"status": "error", "message": "Not found."}),
    ],
)
def test_unknown_api_routes_stay_json(client, path, body):
    response = client.get(path)

    assert response.status_code == 404
    assert response.json() == body


def test_a_permission_denied_page_shows_its_reason(client):
    response = client.get("/probe/forbidden")

    assert response.status_code == 403
    assert b"Probe says no." in response.content


def test_a_server_error_on_an_html_route_is_a_page_with_the_request_id():
    client = Client(raise_request_exception=False)

    response = client.get("/probe/boom")

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert b"Something went wrong" in response.content
    assert response["X-Request-Id"].encode() in response.content


def test_a_server_error_on_an_api_route_stays_json():
    client = Client(raise_request_exception=False)

    response = client.get("/api/probe/boom")

    assert response.status_code == 500
    assert response.json()["error"] == "Internal server error."
    assert response.json()["requestId"] == response["X-Request-Id"]


# --- HEADLESS ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/login/", "/setup/", "/django-admin/", "/probe/overview/", "/no-such-page"]
)
def test_headless_serves_no_html(client, staff, settings, path):
    settings.HEADLESS = True

    response = client.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "HEADLESS=true" in response.json()["error"]


def test_headless_keeps_the_api(client, settings):
    settings.HEADLESS = True

    assert client.get("/api/setup/status").json()["headless"] is True
    assert client.get("/health").status_code == 200
    assert client.get("/api/usage/totals").status_code == 200


def test_django_admins_view_site_link_leads_to_the_dashboard(django_user_model):
    admin = django_user_model.objects.create_superuser("root", password=PASSWORD)

    response = signed_in(admin).get("/django-admin/")

    assert response.status_code == 200
    assert response.context["site_url"] == "/"
    assert b'href="/">View site' in response.content


def test_a_page_rendered_for_an_api_principal_has_no_dashboard_context(rf):
    from accounts.context_processors import dashboard
    from core.principals import Principal

    request = rf.get("/api/docs")
    request.user = Principal(kind="token", user="ops", scope="admin", credential=None)

    assert dashboard(request) == {"nav": [], "setup_pending": False}
