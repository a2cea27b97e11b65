"""The whole setup wizard in Chromium, on a fresh database: the code from the server's log, the
first admin, scenario and infrastructure, the first host with its one-time command, an embed
origin, completion."""

from __future__ import annotations

import http.client
import json
import re
from urllib.parse import urlsplit

from playwright.sync_api import expect

from tests.browser.conftest import STAFF_PASSWORD


def test_the_whole_wizard_on_a_fresh_install(fresh_site, page, screenshot):
    # A new user opens the address `make run` printed: the wizard, not a bare "Not Found".
    page.goto(fresh_site.url("/"))
    expect(page).to_have_url(fresh_site.url("/setup/"))
    expect(page.locator("h1")).to_have_text("Set up tokenfleet")
    screenshot(page, "setup-1-admin")

    # A wrong code is refused on the page.
    page.fill("#id_code", "AAAA-BBBB-CCCC")
    page.fill("#id_username", "ada")
    page.fill("#id_password1", STAFF_PASSWORD)
    page.fill("#id_password2", STAFF_PASSWORD)
    page.get_by_role("button", name="Create admin and continue").click()
    expect(page.locator(".errorlist, .notice--error").first).to_contain_text("not the one")

    # The code the server printed to its log, typed as a person would (lower case, spaces).
    code = fresh_site.setup_code()
    page.fill("#id_code", code.lower().replace("-", " "))
    page.fill("#id_password1", STAFF_PASSWORD)
    page.fill("#id_password2", STAFF_PASSWORD)
    page.press("#id_password2", "Enter")  # the keyboard submits the form
    expect(page).to_have_url(fresh_site.url("/setup/scenario/"))
    expect(page.locator(".notice--success")).to_contain_text("Admin ada created")
    screenshot(page, "setup-2-scenario")

    page.check("input[name=scenario][value=team]")
    page.check("input[name=infra][value=docker-compose]")
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(fresh_site.url("/setup/machines/"))
    expect(page.locator("input[name=method][value=host]")).to_be_checked()  # team: a host
    screenshot(page, "setup-3-machines")

    page.fill("#id_fqdn", "build-01.example.com")
    page.fill("#id_owner", "alice")
    page.get_by_role("button", name="Issue and show the commands").click()
    host_panel = page.locator("section[data-kind=host]")
    command = host_panel.locator(".command code").inner_text()
    assert re.fullmatch(
        rf'curl -fsSL "{re.escape(fresh_site.base_url)}/install/[A-Za-z0-9_-]+" \| bash', command
    ), command
    host_panel.locator("button[data-copy]").click()
    expect(host_panel.locator("button[data-copy]")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == command
    embed_token = page.locator("section[data-kind='embed token'] [data-token]").inner_text()
    assert embed_token.startswith("we_")
    screenshot(page, "setup-4-machines-done")

    # The copied command works: the installer link answers its script, once.
    url = command.split('"')[1]
    status, body = _get(url)
    assert status == 200 and body.startswith(b"#!")
    assert _get(url)[0] == 410

    page.get_by_role("link", name=re.compile("I have copied them")).click()
    expect(page).to_have_url(fresh_site.url("/setup/embed/"))
    page.fill("#id_origin", "https://Intranet.Example.com:443/")
    page.fill("#id_label", "wiki")
    page.get_by_role("button", name="Allow this origin").click()
    expect(page).to_have_url(fresh_site.url("/setup/finish/"))
    expect(page.locator("#summary-scenario")).to_have_text("Team")
    expect(page.locator("#summary-infra")).to_have_text("Docker Compose")
    expect(page.locator("main")).to_contain_text("https://intranet.example.com")
    expect(page.locator("main")).not_to_contain_text(embed_token)  # shown once only
    screenshot(page, "setup-5-finish")

    page.get_by_role("button", name="Complete setup").click()
    expect(page).to_have_url(fresh_site.url("/"))
    expect(page.locator(".messages")).to_contain_text("Setup complete")

    status = fresh_site.json("GET", "/api/setup/status")
    assert status["complete"] is True
    assert (status["scenario"], status["infra"], status["headless"]) == (
        "team",
        "docker-compose",
        False,
    )
    # The embed token works from the origin the wizard allowed.
    totals_status, _ = _get(
        fresh_site.url(f"/embed/totals?token={embed_token}"),
        headers={"Origin": "https://intranet.example.com"},
    )
    assert totals_status == 200

    # The wizard does not hand out a second admin.
    page.context.clear_cookies()
    page.goto(fresh_site.url("/setup/"))
    expect(page).to_have_url(re.compile(r"/login/\?next=/setup/$"))


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_the_status_api_is_json_for_the_wizard(fresh_site):
    status = fresh_site.json("GET", "/api/setup/status")

    assert set(status) == {"complete", "scenario", "infra", "completedAt", "headless"}
    assert json.dumps(status)
