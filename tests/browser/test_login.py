"""Sign in and out in Chromium against the live server."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import STAFF_PASSWORD, STAFF_USERNAME


def test_sign_in_and_out(live_site, page, screenshot):
    page.goto(live_site.url("/"))
    expect(page).to_have_url(live_site.url("/login/?next=/"))
    screenshot(page, "login")

    page.fill("#id_username", STAFF_USERNAME)
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("correct username and password")

    page.fill("#id_password", STAFF_PASSWORD)
    page.press("#id_password", "Enter")
    expect(page).to_have_url(live_site.url("/"))
    expect(page.locator(".site-user__name")).to_have_text(STAFF_USERNAME)

    page.click("text=Sign out")
    expect(page).to_have_url(live_site.url("/login/"))
    page.goto(live_site.url("/"))
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))


def test_a_user_who_is_not_staff_cannot_sign_in(live_site, page):
    live_site.create_user("visitor", STAFF_PASSWORD, staff=False)

    page.goto(live_site.url("/login/"))
    page.fill("#id_username", "visitor")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("button[type=submit]")

    expect(page.locator("[role=alert]")).to_contain_text("not a staff account")
    expect(page).to_have_url(live_site.url("/login/"))


def test_the_staff_page_fixture_is_signed_in(live_site, staff_page):
    staff_page.goto(live_site.url("/"))

    expect(staff_page).to_have_url(live_site.url("/"))
    expect(staff_page.locator(".site-user__name")).to_have_text(STAFF_USERNAME)


def test_an_unknown_page_is_a_404_page_in_the_site_style(live_site, page, screenshot):
    response = page.goto(live_site.url("/no-such-page"))

    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("Page not found")
    screenshot(page, "error-404")
