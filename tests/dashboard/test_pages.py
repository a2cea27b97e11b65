"""Every dashboard page: signed out → login (or setup on a fresh install), not staff → 403,
staff → 200, with empty and with populated data."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.dashboard.conftest import STAFF

PAGES: list[tuple[str, dict]] = [
    ("dashboard:overview", {}),
    ("dashboard:overview-live", {}),
    ("dashboard:usage", {}),
    ("dashboard:hosts", {}),
    ("dashboard:auth", {}),
    ("dashboard:slash", {}),
    ("dashboard:quota", {}),
    ("dashboard:tokens", {}),
    ("dashboard:embed", {}),
    ("dashboard:audit", {}),
    ("dashboard:runner", {}),
    ("dashboard:settings", {}),
]
DETAIL_PAGES = [
    ("dashboard:host", "host"),
    ("dashboard:host-delete", "host"),
    ("dashboard:user", "user"),
]


def _url(name: str, kwargs: dict) -> str:
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_it_sends_signed_out_visitors_to_the_login_page(client, staff_user, name, kwargs):
    url = _url(name, kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_it_sends_signed_out_visitors_to_setup_on_a_fresh_install(client, db, name, kwargs):
    response = client.get(_url(name, kwargs))
    assert response.status_code == 302
    assert response["Location"] == "/setup/"


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_it_refuses_signed_in_users_who_are_not_staff(member_client, name, kwargs):
    response = member_client.get(_url(name, kwargs))
    assert response.status_code == 403


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_it_shows_every_page_to_staff_on_an_empty_server(staff_client, name, kwargs):
    response = staff_client.get(_url(name, kwargs))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_it_shows_every_page_to_staff_with_data(staff_client, host, usage, name, kwargs):
    response = staff_client.get(_url(name, kwargs))
    assert response.status_code == 200


def _detail_kwargs(kind: str, host) -> dict:
    return {"host_id": host.pk} if kind == "host" else {"name": "alice"}


@pytest.mark.parametrize(("name", "kind"), DETAIL_PAGES)
def test_it_guards_the_detail_pages(client, member_client, staff_client, host, usage, name, kind):
    url = _url(name, _detail_kwargs(kind, host))
    assert client.get(url).status_code == 302
    assert member_client.get(url).status_code == 403
    assert staff_client.get(url).status_code == 200


def test_it_answers_404_pages_for_unknown_hosts_and_users(staff_client, db):
    assert staff_client.get(_url("dashboard:host", {"host_id": 999})).status_code == 404
    response = staff_client.get(_url("dashboard:user", {"name": "nobody"}))
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_it_names_the_signed_in_user(staff_client, db):
    assert STAFF in staff_client.get("/").content.decode()


def test_it_applies_the_mtls_rule_when_required(staff_client, settings, db):
    settings.DASHBOARD_REQUIRE_MTLS = True
    assert staff_client.get(reverse("dashboard:hosts")).status_code == 403
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    header = "HTTP_" + settings.ADMIN_MTLS_HEADER.upper().replace("-", "_")
    response = staff_client.get(reverse("dashboard:hosts"), **{header: "1"})
    assert response.status_code == 200
