"""What the pages show agrees with the JSON API they mirror, and reads stay a fixed number of
queries however many rows there are (no N+1)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qsl, urlsplit

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.services import audit_record
from core.hashing import secret_hint, sha256_hex
from hosts.models import Host, HostAuthState
from tests.dashboard.conftest import found


def _all_time(body: str) -> dict[str, str]:
    return dict(re.findall(r'data-total="(\w+)" data-value="([^"]+)"', body))


def test_it_shows_the_totals_the_api_answers(staff_client, client, usage):
    body = staff_client.get("/").content.decode()
    api = client.get("/api/usage/totals").json()["totals"]
    shown = _all_time(body)
    assert shown.keys() == api.keys()
    for key, value in api.items():
        assert float(shown[key]) == value, key
    assert "mystery-model-1" not in body  # the overview lists families, not models


def test_it_renders_the_live_fragment_alone(staff_client, usage):
    response = staff_client.get(reverse("dashboard:overview-live"))
    assert response["Cache-Control"] == "no-store"
    body = response.content.decode()
    assert "<html" not in body
    assert 'data-total="messages" data-value="6"' in body


def test_it_links_the_csv_of_exactly_what_the_table_shows(staff_client, client, usage):
    body = staff_client.get(reverse("dashboard:usage"), {"range": "24h", "user": "bob"}).content
    page = body.decode()
    href = unescape(found(r'href="([^"]+)" download data-csv-link', page))
    parts = urlsplit(href)
    assert parts.path == "/api/usage/breakdown.csv"
    query = dict(parse_qsl(parts.query))
    assert query["user"] == "bob" and int(query["to"]) - int(query["from"]) == 86_400_000
    csv_rows = client.get(href).content.decode().strip().splitlines()[1:]
    table = re.search(r'<table class="table" id="breakdown".*?</table>', page, re.S)
    assert table is not None
    assert len(re.findall(r"<tr><td>", table.group(0))) == len(csv_rows) == 2


def test_it_filters_usage_by_machine_and_family(staff_client, usage):
    page = staff_client.get(
        reverse("dashboard:usage"), {"range": "7d", "machine": "laptop-7", "family": "opus"}
    ).content.decode()
    assert "claude-opus-4-6" in page
    assert "claude-sonnet-4-5-20250929</td>" not in page


def test_it_ignores_an_unknown_range(staff_client, usage):
    response = staff_client.get(reverse("dashboard:usage"), {"range": "5y"})
    assert response.status_code == 200
    assert 'aria-current="true">7 d<' in response.content.decode()


def test_it_lists_models_without_a_price(staff_client, usage):
    page = staff_client.get(reverse("dashboard:usage")).content.decode()
    assert "mystery-model-1" in page
    assert "?model=mystery-model-1#price-form" in page


def _hosts(count: int) -> None:
    for number in range(count):
        host = Host.objects.create(
            fqdn=f"node-{number:02d}",
            owner="alice",
            api_key_hash=sha256_hex(f"k{number}"),
            api_key_hint=secret_hint(f"k{number}"),
        )
        HostAuthState.objects.create(host=host, digest="c" * 64, last_status="valid")


def _queries(staff_client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert staff_client.get(url).status_code == 200
    return len(captured)


def test_it_reads_the_hosts_page_in_the_same_queries_for_3_or_30_hosts(staff_client, usage):
    _hosts(3)
    few = _queries(staff_client, reverse("dashboard:hosts"))
    for name in (f"node-{number:02d}" for number in range(3, 30)):
        Host.objects.create(fqdn=name, api_key_hash=sha256_hex(name), api_key_hint="x")
    assert _queries(staff_client, reverse("dashboard:hosts")) == few


def test_it_reads_the_audit_page_in_the_same_queries_for_any_page(staff_client, db):
    for number in range(5):
        audit_record(action="test.event", actor="test", meta={"n": number})
    few = _queries(staff_client, reverse("dashboard:audit"))
    for number in range(80):
        audit_record(action="test.event", actor="test", meta={"n": number})
    assert _queries(staff_client, reverse("dashboard:audit")) == few


def test_it_pages_and_filters_the_audit_log(staff_client, db):
    for number in range(60):
        audit_record(action="host.roaming" if number % 2 else "token.issue", actor=f"a{number}")
    first = staff_client.get(reverse("dashboard:audit")).content.decode()
    assert first.count("<tr><td>") == 50
    older = unescape(found(r'href="\?([^"]+)" rel="next"', first))
    second = staff_client.get(reverse("dashboard:audit") + "?" + older).content.decode()
    assert second.count("<tr><td>") == 10
    assert 'rel="next"' not in second
    filtered = staff_client.get(reverse("dashboard:audit"), {"action": "host."}).content.decode()
    assert filtered.count("<code>host.roaming</code>") == 30
    assert "<code>token.issue</code>" not in filtered
    by_actor = staff_client.get(reverse("dashboard:audit"), {"actor": "a59"}).content.decode()
    assert by_actor.count("<tr><td>") == 1


def test_it_shows_the_refresher_view_of_the_login(staff_client, db, monkeypatch):
    """Access-token expiry, who refreshed and the refresh state, from the single refresher's
    `login_freshness` (issue 15), on the overview and the canonical auth page."""
    import json
    import sys
    from datetime import timedelta
    from types import ModuleType, SimpleNamespace

    from django.utils import timezone

    from hosts.fleetauth.authjson import normalise_auth
    from hosts.fleetauth.services import canonical_auth_install
    from tests.dashboard.test_actions import _auth_json

    auth, last_refresh = normalise_auth(json.loads(_auth_json()))
    canonical_auth_install(auth=auth, last_refresh=last_refresh, source="runner", source_host=None)
    now = timezone.now()
    login = SimpleNamespace(
        refreshed_by="server",
        refreshed_by_host=None,
        access_expires_at=now + timedelta(hours=5),
        refresh_state="retrying",
        refresh_due_at=now,
        refresh_retry_at=now + timedelta(minutes=2),
        refresh_error="token endpoint unreachable",
        action="Nothing yet: the server retries with back-off.",
    )
    fake = ModuleType("hosts.fleetauth.refresh.selectors")
    fake.login_freshness = lambda **kwargs: login  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "hosts.fleetauth.refresh.selectors", fake)

    overview = staff_client.get("/").content.decode()
    assert "Access token expires" in overview and "refreshed by server" in overview
    assert "refresh retrying" in overview
    page = staff_client.get(reverse("dashboard:auth")).content.decode()
    assert "token endpoint unreachable" in page and "retries with back-off" in page


def test_it_ranks_the_usage_leaderboards_as_the_api_does(usage):
    from dashboard import selectors
    from usage import selectors as usage_selectors

    for filters in ({}, {"user": "bob"}, {"family": "opus"}):
        flt = selectors.usage_filter(
            range_key="7d",
            user=filters.get("user"),
            machine=None,
            family=filters.get("family"),
        )
        page = selectors.usage_page(flt, range_key="7d")
        for by in usage_selectors.LEADERBOARD_BY:
            assert page.boards[by] == usage_selectors.leaderboard(flt, by=by, limit=10), by
        assert page.overall == usage_selectors.totals(flt)


def test_it_builds_the_host_row_links_the_urls_answer(staff_client, host):
    page = staff_client.get(reverse("dashboard:hosts")).content.decode()
    assert f'href="{reverse("dashboard:host", args=[host.pk])}"' in page
    assert f'formaction="{reverse("dashboard:host-roaming", args=[host.pk])}"' in page
    assert f'formaction="{reverse("dashboard:host-status", args=[host.pk])}"' in page
