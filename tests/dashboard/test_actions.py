"""Each dashboard action: its side effect, through the service the API uses, audited with the
signed-in user as the actor."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts.models import ApiToken
from accounts.services import token_issue
from embed.models import EmbedOrigin
from embed.services import embed_origin_add
from hosts.models import CanonicalAuth, Host, HostAuthState, InstallerToken, RunnerCycle
from hosts.selectors import api_disabled
from tests.dashboard.conftest import STAFF, found, last_event
from usage.models import ModelPrice

ACTOR = f"staff:{STAFF}"
ACCESS_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhdXRoMHx0ZXN0LWFjY2VzcyJ9.QUNDRVNTLXNpZy0x"
)


def _audited(action: str, **meta) -> None:
    event = last_event(action)
    assert event is not None, f"no {action} event"
    assert event.actor == ACTOR
    for key, value in meta.items():
        assert event.meta.get(key) == value


# --- Hosts.


def test_it_registers_a_host_and_shows_its_install_command_once(staff_client, db):
    response = staff_client.post(
        reverse("dashboard:hosts"), {"fqdn": "Build-02.Example.com", "owner": "carol"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    host = Host.objects.get(fqdn="build-02.example.com")
    assert host.owner == "carol"
    body = response.content.decode()
    command = found(r'<code id="install-command">([^<]+)</code>', body)
    assert command.startswith("curl -fsSL &quot;") and command.endswith("| bash")
    assert InstallerToken.objects.filter(host=host, used_at__isnull=True).count() == 1
    _audited("host.register", fqdn="build-02.example.com")
    # The list never shows it again.
    assert "install-command" not in staff_client.get(reverse("dashboard:hosts")).content.decode()


def test_it_refuses_a_bad_host_name_on_the_form(staff_client, db):
    response = staff_client.post(reverse("dashboard:hosts"), {"fqdn": "bad host!", "owner": ""})
    assert response.status_code == 400
    assert not Host.objects.exists()
    assert "errorlist" in response.content.decode()


def test_it_rotates_a_host_key(staff_client, host):
    old_hash = host.api_key_hash
    response = staff_client.post(reverse("dashboard:host-rotate", args=[host.pk]))
    assert response.status_code == 200
    assert "install-command" in response.content.decode()
    host.refresh_from_db()
    assert host.api_key_hash != old_hash
    _audited("host.rotate", fqdn="build-01")


def test_it_toggles_roaming(staff_client, host):
    response = staff_client.post(reverse("dashboard:host-roaming", args=[host.pk]), {"allow": "on"})
    assert response.status_code == 302
    host.refresh_from_db()
    assert host.allow_roaming_ips is True
    _audited("host.roaming", allow=True)
    staff_client.post(reverse("dashboard:host-roaming", args=[host.pk]), {"allow": ""})
    host.refresh_from_db()
    assert host.allow_roaming_ips is False
    _audited("host.roaming", allow=False, previous=True)


def test_it_disables_and_enables_a_host(staff_client, host):
    staff_client.post(reverse("dashboard:host-status", args=[host.pk]), {"status": "disabled"})
    host.refresh_from_db()
    assert host.status == "disabled"
    _audited("host.status", status="disabled")
    staff_client.post(reverse("dashboard:host-status", args=[host.pk]), {"status": "active"})
    host.refresh_from_db()
    assert host.status == "active"


def test_it_clears_a_host_login_state(staff_client, host):
    HostAuthState.objects.create(host=host, digest="a" * 64, last_status="valid")
    response = staff_client.post(reverse("dashboard:host-clear", args=[host.pk]))
    assert response.status_code == 302
    assert not HostAuthState.objects.filter(host=host).exists()
    _audited("host.clear", fqdn="build-01")


def test_it_deletes_a_host_only_after_confirmation(staff_client, host):
    url = reverse("dashboard:host-delete", args=[host.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    assert Host.objects.filter(pk=host.pk).exists()
    response = staff_client.post(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:hosts")
    assert not Host.objects.filter(pk=host.pk).exists()
    _audited("host.delete", fqdn="build-01")


def test_it_returns_only_to_pages_of_this_site(staff_client, host):
    response = staff_client.post(
        reverse("dashboard:host-roaming", args=[host.pk]),
        {"allow": "on", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("dashboard:hosts")


def test_it_reports_an_action_on_a_missing_host(staff_client, db):
    response = staff_client.post(reverse("dashboard:host-roaming", args=[999]), {"allow": "on"})
    assert response.status_code == 302
    page = staff_client.get(response["Location"])
    assert "Host not found." in page.content.decode()


# --- Canonical auth.


def _auth_json(last_refresh: str = "2026-11-20T10:00:00.123456789Z") -> str:
    return json.dumps(
        {
            "OPENAI_API_KEY": None,
            "tokens": {
                "id_token": ACCESS_TOKEN,
                "access_token": ACCESS_TOKEN,
                "refresh_token": "rt_Q2xpZW50UmVmcmVzaFRva2VuLTAwMQ",
                "account_id": "7f3a9c1e-0b2d-4e5f-8a6b-1c2d3e4f5a6b",
            },
            "last_refresh": last_refresh,
        }
    )


def test_it_uploads_a_canonical_login(staff_client, db):
    response = staff_client.post(reverse("dashboard:auth"), {"auth": _auth_json()})
    assert response.status_code == 302
    current = CanonicalAuth.objects.get(is_current=True)
    assert current.source == "admin"
    _audited("auth.upload", digest=current.digest)
    page = staff_client.get(reverse("dashboard:auth")).content.decode()
    assert current.digest[:12] in page
    assert ACCESS_TOKEN not in page


def test_it_refuses_an_upload_that_is_not_a_login(staff_client, db):
    response = staff_client.post(reverse("dashboard:auth"), {"auth": '{"tokens": {}}'})
    assert response.status_code == 400
    assert not CanonicalAuth.objects.exists()
    response = staff_client.post(reverse("dashboard:auth"), {"auth": "not json"})
    assert response.status_code == 400
    assert "Not JSON" in response.content.decode()


# --- Slash commands.


def test_it_retires_a_slash_command(staff_client, db):
    from hosts.models import SlashCommand

    SlashCommand.objects.create(filename="review.md", prompt="Review this.", sha256="b" * 64)
    response = staff_client.post(reverse("dashboard:slash-retire"), {"filename": "review.md"})
    assert response.status_code == 302
    assert SlashCommand.objects.get(filename="review.md").deleted_at is not None
    _audited("slash.delete", filename="review.md")


# --- Runner.


def test_it_runs_a_runner_cycle_now(staff_client, db):
    response = staff_client.post(reverse("dashboard:runner"), {"step": "installers"})
    assert response.status_code == 302
    cycle = RunnerCycle.objects.get()
    assert cycle.trigger == "manual"
    assert [entry["step"] for entry in cycle.steps] == ["installers"]
    _audited("runner.run", cycle_id=cycle.pk, steps=["installers"])


def test_it_refuses_an_unknown_runner_step(staff_client, db):
    staff_client.post(reverse("dashboard:runner"), {"step": "nope"})
    assert not RunnerCycle.objects.exists()


# --- Tokens.


def test_it_issues_a_token_and_shows_it_once(staff_client, db):
    response = staff_client.post(
        reverse("dashboard:tokens"), {"user": "dana", "scope": "ingest", "label": "laptop"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user="dana")
    plaintext = found(r'<code id="new-token">([^<]+)</code>', response.content.decode())
    assert plaintext.startswith("wi_")
    assert token.created_by == ACTOR
    _audited("token.issue", token_id=token.pk, scope="ingest")
    assert plaintext not in staff_client.get(reverse("dashboard:tokens")).content.decode()


def test_it_refuses_a_token_that_expires_in_the_past(staff_client, db):
    response = staff_client.post(
        reverse("dashboard:tokens"),
        {"user": "dana", "scope": "read", "expires_at": "2001-01-01T00:00"},
    )
    assert response.status_code == 400
    assert "Must be in the future." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_it_revokes_a_token(staff_client, db):
    token, _plaintext = token_issue(user="erin", scope="read", actor="test")
    response = staff_client.post(reverse("dashboard:token-revoke", args=[token.pk]))
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    _audited("token.revoke", token_id=token.pk)


# --- Embed origins.


def test_it_adds_an_embed_origin(staff_client, db):
    response = staff_client.post(
        reverse("dashboard:embed"), {"origin": "HTTPS://Intranet.Example.com:443/", "label": "wiki"}
    )
    assert response.status_code == 302
    assert EmbedOrigin.objects.get().origin == "https://intranet.example.com"
    _audited("embed_origin.add", origin="https://intranet.example.com")


def test_it_refuses_a_duplicate_or_bad_origin(staff_client, db):
    embed_origin_add(origin="https://a.example", actor="test")
    response = staff_client.post(reverse("dashboard:embed"), {"origin": "https://a.example"})
    assert response.status_code == 400
    assert "already an embed origin" in response.content.decode()
    response = staff_client.post(reverse("dashboard:embed"), {"origin": "not an origin"})
    assert response.status_code == 400
    assert EmbedOrigin.objects.count() == 1


def test_it_removes_an_embed_origin(staff_client, db):
    row = embed_origin_add(origin="https://a.example", actor="test")
    staff_client.post(reverse("dashboard:embed-remove", args=[row.pk]))
    assert not EmbedOrigin.objects.exists()
    _audited("embed_origin.remove", origin="https://a.example")


# --- Settings.


def test_it_switches_the_host_api_off_and_on(staff_client, db):
    staff_client.post(reverse("dashboard:api-state"), {"disabled": "on"})
    assert api_disabled() is True
    _audited("api.state", api_disabled=True)
    staff_client.post(reverse("dashboard:api-state"), {})
    assert api_disabled() is False
    _audited("api.state", api_disabled=False, previous=True)


def test_it_adds_a_price_and_reprices_what_it_now_prices(staff_client, usage):
    response = staff_client.post(
        reverse("dashboard:price-add"),
        {
            "model_prefix": "mystery-model",
            "family": "mystery",
            "provider": "test",
            "effective_from": "2020-01-01T00:00",
            "input": "1",
            "cache_write_5m": "1.25",
            "cache_write_1h": "2",
            "cache_read": "0.1",
            "output": "5",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    price = ModelPrice.objects.get(model_prefix="mystery-model")
    assert price.source == "admin"
    _audited("pricing.refresh", model_prefix="mystery-model", repriced=1)


def test_it_keeps_a_bad_price_on_the_form(staff_client, db):
    response = staff_client.post(reverse("dashboard:price-add"), {"model_prefix": "x"})
    assert response.status_code == 400
    assert not ModelPrice.objects.filter(model_prefix="x").exists()


def test_it_reports_a_price_refresh_that_cannot_reach_its_url(staff_client, db):
    response = staff_client.post(reverse("dashboard:prices-refresh"), follow=True)
    assert "Could not fetch prices" in response.content.decode()


@pytest.mark.parametrize("method", ["get"])
def test_it_answers_405_to_a_get_on_an_action(staff_client, host, method):
    response = staff_client.get(reverse("dashboard:host-roaming", args=[host.pk]))
    assert response.status_code == 405
