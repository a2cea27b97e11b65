"""The browser wizard's views: setup code, first admin, choices, first machine, embed, finish."""

from __future__ import annotations

import logging
import re

import pytest
from django.contrib.auth import get_user_model

from accounts.models import ApiToken, AuditEvent
from embed.models import EmbedOrigin
from hosts.models import Host, InstallerToken
from setupwizard.models import SetupCode, SetupState
from setupwizard.services import normalise_code
from tests.setupwizard.conftest import CODE_RE, PASSWORD, csrf_post

pytestmark = pytest.mark.django_db


def admin_form(secret: str, **overrides) -> dict:
    return {
        "code": secret,
        "username": "ada",
        "email": "ada@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **overrides,
    }


# --- the setup code -----------------------------------------------------------------------------


def test_a_fresh_install_prints_a_setup_code_to_the_log_once(browser_client, caplog):
    with caplog.at_level(logging.WARNING, logger="tokenfleet.setup"):
        first = browser_client.get("/setup/")
        browser_client.get("/setup/")

    assert first.status_code == 200
    assert b"setup code" in first.content
    codes = CODE_RE.findall(caplog.text)
    assert len(codes) == 1
    row = SetupCode.objects.get()
    assert codes[0] not in row.code_hash and len(row.code_hash) == 64  # only its hash is kept
    assert AuditEvent.objects.filter(action="setup.code_issue").count() == 1


def test_the_code_from_the_log_creates_the_first_admin_and_signs_in(browser_client, caplog):
    with caplog.at_level(logging.WARNING, logger="tokenfleet.setup"):
        browser_client.get("/setup/")
    code = CODE_RE.findall(caplog.text)[0]

    response = csrf_post(browser_client, "/setup/", admin_form(code.lower().replace("-", " ")))

    assert response.status_code == 302
    assert response["Location"] == "/setup/scenario/"
    user = get_user_model().objects.get(username="ada")
    assert user.is_staff and user.is_superuser and user.email == "ada@example.com"
    assert user.check_password(PASSWORD)
    assert SetupCode.objects.get().used_at is not None
    event = AuditEvent.objects.get(action="setup.admin_create")
    assert event.actor == "staff:ada" and event.meta["username"] == "ada"
    assert PASSWORD not in str(event.meta) and code not in str(event.meta)
    # Signed in: the next step opens.
    assert browser_client.get("/setup/scenario/").status_code == 200


def test_a_wrong_code_creates_nobody_and_counts_as_a_failed_authentication(
    browser_client, setup_code
):
    response = csrf_post(browser_client, "/setup/", admin_form("AAAA-BBBB-CCCC"))

    assert response.status_code == 200
    assert b"not the one in the server" in response.content
    assert not get_user_model().objects.exists()
    failure = AuditEvent.objects.get(action="auth.failed")
    assert failure.meta["credential"] == "setup_code"


def test_wrong_codes_are_limited_per_address(browser_client, setup_code, settings):
    settings.AUTH_FAIL_LIMIT = 2
    for _ in range(2):
        csrf_post(browser_client, "/setup/", admin_form("AAAA-BBBB-CCCC"))

    response = csrf_post(browser_client, "/setup/", admin_form(setup_code))

    assert b"Too many wrong setup codes" in response.content
    assert not get_user_model().objects.exists()


def test_the_code_works_once(browser_client, setup_code, client):
    csrf_post(browser_client, "/setup/", admin_form(setup_code))

    again = client.post("/setup/", admin_form(setup_code, username="mallory"))

    assert again.status_code == 302
    assert again["Location"].startswith("/login/")
    assert not get_user_model().objects.filter(username="mallory").exists()


def test_a_new_code_replaces_the_old_one(browser_client, setup_code, caplog):
    with caplog.at_level(logging.WARNING, logger="tokenfleet.setup"):
        response = csrf_post(browser_client, "/setup/new-code/")
    new = CODE_RE.findall(caplog.text)[-1]

    assert response.status_code == 302
    assert new != setup_code
    refused = csrf_post(browser_client, "/setup/", admin_form(setup_code))
    assert refused.status_code == 200 and not get_user_model().objects.exists()
    assert csrf_post(browser_client, "/setup/", admin_form(new)).status_code == 302


def test_new_codes_are_rate_limited(browser_client, setup_code):
    for _ in range(5):
        csrf_post(browser_client, "/setup/new-code/")
    before = SetupCode.objects.get().code_hash

    response = csrf_post(browser_client, "/setup/new-code/", follow=True)

    assert b"Too many new codes" in response.content
    assert SetupCode.objects.get().code_hash == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"password2": "something-else-entirely-7"}, "password2"),
        ({"password1": "short", "password2": "short"}, "password1"),
        ({"username": "bad name!"}, "username"),
        ({"code": ""}, "code"),
    ],
)
def test_it_checks_the_admin_form(browser_client, setup_code, overrides, field):
    response = csrf_post(browser_client, "/setup/", admin_form(setup_code, **overrides))

    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not get_user_model().objects.exists()
    assert SetupCode.objects.get().used_at is None


def test_the_code_is_normalised_as_typed():
    assert normalise_code(" abcd efgh-jkmn ") == "ABCD-EFGH-JKMN"


def test_setup_code_command_prints_a_fresh_code(db, capsys):
    from django.core.management import call_command

    call_command("setup_code")

    out = capsys.readouterr().out
    assert CODE_RE.pattern.split(":")[0].split()[-1] in out  # "setup code: …"
    assert SetupCode.objects.filter(used_at__isnull=True).exists()


def test_setup_code_command_refuses_once_an_admin_exists(staff_client):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="already has an admin"):
        call_command("setup_code")


# --- after the admin exists ---------------------------------------------------------------------


def test_setup_sends_a_signed_out_visitor_to_login_once_an_admin_exists(client, staff_client):
    response = client.get("/setup/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/setup/"
    assert not SetupCode.objects.exists()


def test_the_signed_in_admin_walks_the_remaining_steps(staff_client, settings):
    settings.PUBLIC_BASE_URL = "https://fleet.example.com"
    assert staff_client.get("/setup/")["Location"] == "/setup/scenario/"

    choices = csrf_post(
        staff_client, "/setup/scenario/", {"scenario": "team", "infra": "kubernetes"}
    )
    assert choices["Location"] == "/setup/machines/"

    machines = csrf_post(
        staff_client,
        "/setup/machines/",
        {"method": "host", "fqdn": "Build-01.example.com", "owner": "alice", "embed_token": "on"},
    )
    assert machines.status_code == 200
    host = Host.objects.get(fqdn="build-01.example.com")
    assert host.owner == "alice"
    page = machines.content.decode()
    assert "curl -fsSL &quot;https://fleet.example.com/install/" in page
    assert InstallerToken.objects.filter(host=host).count() == 1
    embed_token = ApiToken.objects.get(scope="embed")
    assert embed_token.user == "alice"
    shown = re.search(r"data-token>(we_[A-Za-z0-9_-]{43})<", page)  # the plaintext, once
    assert shown is not None
    plaintext = shown.group(1)

    embed = csrf_post(
        staff_client,
        "/setup/embed/",
        {"origin": "https://Intranet.example.com:443/", "label": "wiki"},
    )
    assert embed["Location"] == "/setup/finish/"
    assert EmbedOrigin.objects.get().origin == "https://intranet.example.com"

    finish = staff_client.get("/setup/finish/")
    assert b"Team" in finish.content and b"Kubernetes" in finish.content
    assert plaintext not in finish.content.decode()  # only hints after the one-time page

    done = csrf_post(staff_client, "/setup/finish/")
    assert done["Location"] == "/"
    state = SetupState.objects.get()
    assert (state.complete, state.scenario, state.infra) == (True, "team", "kubernetes")
    actions = list(AuditEvent.objects.values_list("action", "actor"))
    for action in ("host.register", "token.issue", "embed_origin.add", "setup.complete"):
        assert (action, "staff:root") in actions, action


def test_the_token_path_issues_an_ingest_token_with_the_collector_commands(staff_client):
    csrf_post(staff_client, "/setup/scenario/", {"scenario": "solo", "infra": "single-node"})

    response = csrf_post(staff_client, "/setup/machines/", {"method": "token", "user": "ada"})

    token = ApiToken.objects.get()
    assert (token.user, token.scope) == ("ada", "ingest")
    page = response.content.decode()
    assert "wi_" in page and "/api/ingest/collector" in page and "tokenfleet-collect --once" in page
    assert not ApiToken.objects.filter(scope="embed").exists()  # the box was not ticked


def test_the_machines_step_shows_service_refusals_on_the_form(staff_client):
    response = csrf_post(
        staff_client, "/setup/machines/", {"method": "host", "fqdn": "not a host name"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["fqdn"]
    assert not Host.objects.exists()


def test_a_duplicate_origin_is_shown_on_the_form(staff_client):
    csrf_post(staff_client, "/setup/embed/", {"origin": "https://a.example.com"})

    response = csrf_post(staff_client, "/setup/embed/", {"origin": "https://a.example.com/"})

    assert response.status_code == 200
    assert "already an embed origin" in str(response.context["form"].errors["origin"])


def test_finish_without_choices_goes_back_to_them(staff_client):
    response = csrf_post(staff_client, "/setup/finish/")

    assert response["Location"] == "/setup/scenario/"
    assert not SetupState.objects.exists()


@pytest.mark.parametrize(
    "path", ["/setup/scenario/", "/setup/machines/", "/setup/embed/", "/setup/finish/"]
)
def test_later_steps_need_staff(client, django_user_model, path):
    assert client.get(path)["Location"] == "/setup/"  # fresh install: to the wizard's start
    django_user_model.objects.create_user("boss", password=PASSWORD, is_staff=True)
    assert client.get(path)["Location"] == f"/login/?next={path}"
    django_user_model.objects.create_user("joe", password=PASSWORD)
    client.login(username="joe", password=PASSWORD)
    assert client.get(path).status_code == 403


def test_the_wizard_is_404_json_when_headless(client, settings):
    settings.HEADLESS = True

    response = client.get("/setup/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert "headless" in response.json()["error"]
    assert not SetupCode.objects.exists()
