"""The dashboard in Chromium against the live server: the overview agrees with the JSON API and
follows an ingest live; hosts, tokens and the usage CSV work as an admin would use them.

With SCREENSHOTS=1 every main page is saved at 1280 and 390 px under bench/screenshots/.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

FIGURES = ("messages", "input", "cacheCreation", "cacheRead", "output", "sum")


@pytest.fixture(scope="module")
def ingest(live_site):
    """`ingest(user, machine, count)` sends `count` new messages through the HTTP ingest API."""
    tokens: dict[str, str] = {}

    def send(user: str, machine: str, count: int = 1, model: str = "claude-sonnet-4-5") -> None:
        if user not in tokens:
            tokens[user] = live_site.issue_token(user=user, scope="ingest")
        now_ms = int(time.time() * 1000)
        messages = [
            {
                "message_id": f"browser-{uuid.uuid4().hex}",
                "model": model,
                "input_tokens": 1000 + index,
                "output_tokens": 250,
                "cache_creation_input_tokens": 400,
                "cache_read_input_tokens": 3000,
                "ts": now_ms - index * 60_000,
            }
            for index in range(count)
        ]
        answer = live_site.json(
            "POST",
            "/api/ingest/messages",
            body={"machine": machine, "messages": messages},
            headers={"Authorization": f"Bearer {tokens[user]}"},
        )
        assert answer["applied"] == count, answer

    return send


def assert_fits_a_phone(page) -> None:
    """At 390 px nothing scrolls sideways: wide tables scroll inside their own box."""
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    assert overflow <= 1, f"{page.url} is {overflow}px wider than a phone"


def _page_totals(page) -> dict[str, Decimal]:
    values = page.eval_on_selector_all(
        "[data-totals] [data-total]",
        "els => els.map(el => [el.dataset.total, el.dataset.value])",
    )
    return {key: Decimal(value) for key, value in values}


def _api_totals(live_site) -> dict[str, Decimal]:
    totals = live_site.json("GET", "/api/usage/totals")["totals"]
    return {key: Decimal(str(value)) for key, value in totals.items()}


def test_the_overview_shows_the_api_totals_and_follows_an_ingest_live(
    live_site, staff_page, ingest, screenshot
):
    ingest("olive", "ws-olive", 3)
    page = staff_page
    page.goto(live_site.url("/"))
    expect(page.locator("[data-live-status]")).to_have_text("Live")
    assert _page_totals(page) == _api_totals(live_site)
    assert_fits_a_phone(page)
    screenshot(page, "overview")

    page.evaluate("window.__notReloaded = true")
    before = _page_totals(page)["messages"]
    ingest("olive", "ws-olive", 2)
    expect(page.locator('[data-totals] [data-total="messages"]')).to_have_attribute(
        "data-value", str(before + 2)
    )
    # The re-rendered fragment (today, month, leaders) arrives too, still without a reload.
    expect(page.locator("#overview-live")).to_have_attribute("data-updated", re.compile(r"\d+"))
    assert page.evaluate("window.__notReloaded") is True
    assert _page_totals(page) == _api_totals(live_site)
    expect(page.locator("#overview-live")).to_contain_text("ws-olive")


def test_register_a_host_and_copy_its_install_command(live_site, staff_page, screenshot):
    page = staff_page
    page.goto(live_site.url("/dashboard/hosts/"))
    screenshot(page, "hosts-empty")
    page.fill("#id_fqdn", "runner-07.example.com")
    page.fill("#id_owner", "olive")
    page.click("button:has-text('Register')")
    command = page.locator("#install-command")
    expect(command).to_contain_text("curl -fsSL")
    text = command.inner_text()
    assert re.fullmatch(r'curl -fsSL "http://127\.0\.0\.1:\d+/install/[\w-]+" \| bash', text)
    screenshot(page, "host-registered")

    page.click("button[data-copy='#install-command']")
    expect(page.locator("button[data-copy='#install-command']")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == text

    # The installer link works once: the script carries the baked host.
    url = text.split('"')[1]
    status, _headers, script = live_site.server.request("GET", url.split(live_site.base_url)[1])
    assert status == 200 and b"runner-07.example.com" in script

    page.goto(live_site.url("/dashboard/hosts/"))
    expect(page.locator("#hosts-table")).to_contain_text("runner-07.example.com")
    assert "install-command" not in page.content()
    assert_fits_a_phone(page)
    screenshot(page, "hosts")


def test_toggle_roaming(live_site, staff_page):
    page = staff_page
    page.goto(live_site.url("/dashboard/hosts/"))
    page.fill("#id_fqdn", "roamer-01.example.com")
    page.click("button:has-text('Register')")
    page.click("text=Go to roamer-01.example.com")
    expect(page.locator("h1")).to_contain_text("roamer-01.example.com")
    page.click("button:has-text('Allow roaming IPs')")
    expect(page.locator(".messages")).to_contain_text("may now roam")
    expect(page.locator("button:has-text('Bind to one IP')")).to_be_visible()
    page.keyboard.press("Tab")  # the page stays keyboard-usable after the round trip
    page.click("button:has-text('Bind to one IP')")
    expect(page.locator(".messages")).to_contain_text("bound to one IP again")


def test_issue_and_revoke_a_token(live_site, staff_page, screenshot):
    page = staff_page
    page.goto(live_site.url("/dashboard/tokens/"))
    page.fill("#id_user", "reporting")
    page.select_option("#id_scope", "admin")
    page.fill("#id_label", "browser test")
    page.click("button:has-text('Issue token')")
    plaintext = page.locator("#new-token").inner_text().strip()
    assert plaintext.startswith("wa_")
    screenshot(page, "token-issued")
    auth = {"Authorization": f"Bearer {plaintext}"}
    assert live_site.server.request("GET", "/api/admin/tokens", headers=auth)[0] == 200

    page.goto(live_site.url("/dashboard/tokens/"))
    assert plaintext not in page.content()
    row = page.locator("#tokens-table tr", has_text="browser test")
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('Revoke')").click()
    expect(page.locator(".messages")).to_contain_text("Revoked")
    expect(page.locator("#tokens-table tr", has_text="browser test")).to_contain_text("revoked")
    assert live_site.server.request("GET", "/api/admin/tokens", headers=auth)[0] == 401
    assert_fits_a_phone(page)
    screenshot(page, "tokens")


def _number(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace("$", "").strip() or "0")


def test_the_csv_download_matches_the_table(live_site, staff_page, ingest, screenshot):
    ingest("csv-user", "csv-box", 2, model="claude-opus-4-6")
    ingest("csv-user", "csv-box-2", 1)
    page = staff_page
    page.goto(live_site.url("/dashboard/usage/?range=24h&user=csv-user"))
    assert_fits_a_phone(page)
    screenshot(page, "usage")
    rows = page.eval_on_selector_all(
        "#breakdown tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))"
    )
    assert len(rows) == 2
    with page.expect_download() as download_info:
        page.click("[data-csv-link]")
    body = Path(download_info.value.path()).read_text(encoding="utf-8")
    records = list(csv.DictReader(io.StringIO(body)))
    assert len(records) == len(rows)
    for cells, record in zip(rows, records, strict=True):
        assert cells[:4] == [
            record["user"],
            record["machine"],
            record["model"],
            record["model_family"],
        ]
        for index, column in enumerate(
            (
                "messages",
                "input",
                "cache_creation",
                "cache_read",
                "output",
                "reasoning",
                "tokens_weighted",
            ),
            start=4,
        ):
            assert _number(cells[index]) == Decimal(record[column]), column
        assert _number(cells[11]) == Decimal(record["cost_usd"]).quantize(Decimal("0.0001"))


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("auth", "/dashboard/auth/"),
        ("slash", "/dashboard/slash-commands/"),
        ("quota", "/dashboard/quota/"),
        ("embed", "/dashboard/embed-origins/"),
        ("audit", "/dashboard/audit/"),
        ("runner", "/dashboard/runner/"),
        ("settings", "/dashboard/settings/"),
    ],
)
def test_every_other_page_renders(live_site, staff_page, screenshot, name, path):
    staff_page.goto(live_site.url(path))
    expect(staff_page.locator("h1")).to_be_visible()
    assert_fits_a_phone(staff_page)
    screenshot(staff_page, name)
