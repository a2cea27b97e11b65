"""GET /wrapper and GET /wrapper/download: the cdx wrapper baked for the calling host."""

from __future__ import annotations

import hashlib
import subprocess
from types import SimpleNamespace

import pytest
from django.core.checks import run_checks
from rest_framework.test import APIClient

from hosts.models import FleetSetting
from hosts.wrapper import bake as wrapper

pytestmark = pytest.mark.django_db

BASE_URL = "https://fleet.example.com"


@pytest.fixture(autouse=True)
def _public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE_URL


def _bash_syntax_ok(tmp_path, data: bytes) -> subprocess.CompletedProcess:
    path = tmp_path / "cdx"
    path.write_bytes(data)
    return subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)


def test_it_describes_exactly_the_bytes_it_serves(host_client, tmp_path):
    meta = host_client.get("/wrapper")
    assert meta.status_code == 200
    envelope = meta.json()
    assert envelope["status"] == "ok"
    data = envelope["data"]
    assert data["version"] == wrapper.WRAPPER_VERSION
    assert data["url"] == "/wrapper/download"
    assert data["updated_at"] == wrapper.WRAPPER_UPDATED_AT

    download = host_client.get("/wrapper/download")
    assert download.status_code == 200
    body = download.content
    assert hashlib.sha256(body).hexdigest() == data["sha256"] == download["X-SHA256"]
    assert len(body) == data["size_bytes"]
    assert download["ETag"] == f'"{data["sha256"]}"'
    assert download["Content-Disposition"] == 'attachment; filename="cdx"'
    assert "no-store" in download["Cache-Control"]
    assert _bash_syntax_ok(tmp_path, body).returncode == 0


def test_it_bakes_the_base_url_and_the_fqdn_and_no_secret(host_client, host_key, tmp_path):
    body = host_client.get("/wrapper/download").content.decode()
    # The key lives in the host's 0600 host.env, never in the wrapper.
    assert host_key not in body
    assert f"CDX_BASE_URL={BASE_URL}\n" in body
    assert "CDX_FQDN=build-01\n" in body
    assert f"CDX_WRAPPER_VERSION={wrapper.WRAPPER_VERSION}\n" in body
    assert "__CDX_" not in body
    script = tmp_path / "cdx"
    script.write_text(body)
    run = subprocess.run(["bash", str(script), "--version"], capture_output=True, text=True)
    assert run.returncode == 0
    assert run.stdout.startswith(f"cdx {wrapper.WRAPPER_VERSION} (build-01, {BASE_URL})\n")


def test_it_serves_each_host_its_own_bytes(host_client, host_key):
    other = SimpleNamespace(fqdn="build-02")
    mine = host_client.get("/wrapper").json()["data"]["sha256"]
    assert mine == wrapper.wrapper_metadata(host=SimpleNamespace(fqdn="build-01"))["sha256"]
    assert mine != wrapper.wrapper_metadata(host=other)["sha256"]
    assert mine != wrapper.unbaked_sha256()


def test_it_answers_304_when_the_client_already_has_these_bytes(host_client):
    sha = host_client.get("/wrapper").json()["data"]["sha256"]
    cached = host_client.get("/wrapper/download", HTTP_IF_NONE_MATCH=f'"{sha}"')
    assert cached.status_code == 304
    assert cached.content == b""
    stale = host_client.get("/wrapper/download", HTTP_IF_NONE_MATCH='"0000"')
    assert stale.status_code == 200 and stale.content


def test_it_needs_a_host_key(host):
    for path in ("/wrapper", "/wrapper/download"):
        missing = APIClient().get(path)
        assert missing.status_code == 401
        assert missing.json() == {"status": "error", "message": "API key missing"}
        wrong = APIClient(HTTP_X_API_KEY="hk_" + "x" * 40).get(path)
        assert wrong.status_code == 401
        assert wrong.json() == {"status": "error", "message": "Invalid API key"}


def test_it_answers_503_while_the_api_is_disabled(host_client):
    FleetSetting.objects.create(key="api_disabled", value=True)
    for path in ("/wrapper", "/wrapper/download"):
        response = host_client.get(path)
        assert response.status_code == 503
        assert response.json()["message"] == "API disabled by administrator"


def test_it_answers_a_json_500_when_the_base_url_cannot_be_baked(host_client, settings):
    settings.PUBLIC_BASE_URL = "https://fleet.example.com/$(id)"
    response = host_client.get("/wrapper/download")
    assert response.status_code == 500
    assert response.json()["status"] == "error"
    assert "PUBLIC_BASE_URL" in response.json()["message"]


# --- the baker itself


def test_it_reports_the_template_digest_as_unbaked_sha256():
    assert (
        wrapper.unbaked_sha256() == hashlib.sha256(wrapper.TEMPLATE_PATH.read_bytes()).hexdigest()
    )


@pytest.mark.parametrize(
    "base_url",
    [
        "https://fleet.example.com",
        "http://127.0.0.1:8000",
        "https://fleet.example.com:8443/tokenfleet",
        "http://[::1]:8000",
    ],
)
def test_it_bakes_valid_bash_for_accepted_base_urls(settings, tmp_path, base_url):
    settings.PUBLIC_BASE_URL = base_url
    baked = wrapper.bake(host=SimpleNamespace(fqdn="a-1.example.com"))
    assert _bash_syntax_ok(tmp_path, baked).returncode == 0
    # What bash makes of the baked assignment is exactly the configured URL.
    run = subprocess.run(
        ["bash", "-c", 'eval "$(grep "^CDX_BASE_URL=" "$1")"; printf %s "$CDX_BASE_URL"', "-"]
        + [str(tmp_path / "cdx")],
        capture_output=True,
        text=True,
    )
    assert run.stdout == base_url


@pytest.mark.parametrize(
    "base_url",
    [
        "https://fleet.example.com/'$(touch /tmp/pwned)'",
        "https://fleet.example.com/a b",
        "https://fleet.example.com/?x=1",
        "https://fleet.example.com/#frag",
        "https://user:pw@fleet.example.com",
        "ftp://fleet.example.com",
        "https://fleet.example.com/\nrm -rf ~",
        "https://fleet.example.com/`id`",
        "",
    ],
)
def test_it_refuses_a_base_url_that_could_break_out(settings, base_url):
    settings.PUBLIC_BASE_URL = base_url
    with pytest.raises(wrapper.BakeError):
        wrapper.bake(host=SimpleNamespace(fqdn="build-01"))


@pytest.mark.parametrize(
    "fqdn", ["build-01'; id; '", "$(id)", "a b", "build-01\n", "", "x" * 254, "-x", "a_b"]
)
def test_it_refuses_an_fqdn_that_could_break_out(fqdn):
    with pytest.raises(wrapper.BakeError):
        wrapper.bake(host=SimpleNamespace(fqdn=fqdn))


def test_it_substitutes_in_one_pass(settings):
    # A value that spells another placeholder stays literal text.
    settings.PUBLIC_BASE_URL = "https://fleet.example.com/__CDX_FQDN__"
    baked = wrapper.bake(host=SimpleNamespace(fqdn="build-01")).decode()
    assert "CDX_BASE_URL=https://fleet.example.com/__CDX_FQDN__\n" in baked
    assert "CDX_FQDN=build-01\n" in baked


def test_it_describes_what_bake_returns():
    host = SimpleNamespace(fqdn="build-01")
    baked = wrapper.bake(host=host)
    meta = wrapper.wrapper_metadata(host=host)
    assert meta == {
        "version": wrapper.WRAPPER_VERSION,
        "sha256": hashlib.sha256(baked).hexdigest(),
        "size_bytes": len(baked),
        "updated_at": wrapper.WRAPPER_UPDATED_AT,
        "url": "/wrapper/download",
    }


def test_it_reports_an_unbakeable_public_base_url_as_a_system_check(settings):
    settings.PUBLIC_BASE_URL = "https://fleet.example.com/?tenant=1"
    assert "hosts.E010" in {message.id for message in run_checks()}
    settings.PUBLIC_BASE_URL = "https://fleet.example.com/"
    assert "hosts.E010" not in {message.id for message in run_checks()}
