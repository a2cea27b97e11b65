"""GET /install/<token>: a single-use bash script that installs this host's baked cdx."""

from __future__ import annotations

import subprocess
import threading

import pytest
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import AuditEvent
from core.hashing import sha256_hex
from hosts.delivery import services
from hosts.models import FleetSetting, InstallerToken

pytestmark = pytest.mark.django_db


def _register(fqdn: str = "build-10", owner: str = "alice"):
    return services.host_register(fqdn=fqdn, owner=owner, actor="test")


def test_it_answers_a_script_that_installs_the_baked_wrapper(tmp_path):
    with override_settings(PUBLIC_BASE_URL="https://fleet.example.com"):
        registration = _register()
        response = APIClient(REMOTE_ADDR="198.51.100.4").get(
            f"/install/{registration.installer_token}"
        )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/x-shellscript")
    assert response["Cache-Control"] == "no-store"
    script = response.content.decode()
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "TF_BASE_URL=https://fleet.example.com\n" in script
    assert f"TF_API_KEY={registration.api_key}\n" in script
    assert "TF_FQDN=build-10\n" in script
    assert "fetch_verified /wrapper/download " in script
    assert "fetch_verified /api/ingest/collector " in script
    assert "${CDX_INSTALL_DIR:-$HOME/.local/bin}" in script
    path = tmp_path / "install.sh"
    path.write_bytes(response.content)
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0

    row = InstallerToken.objects.get(pk=registration.installer.pk)
    assert row.used_at is not None
    assert row.used_ip == "198.51.100.4"
    assert row.pending_key_ciphertext == ""
    event = AuditEvent.objects.get(action="host.install")
    assert event.meta["fqdn"] == "build-10" and event.ip == "198.51.100.4"
    assert registration.api_key not in str(event.meta)


def test_it_answers_410_the_second_time():
    registration = _register()
    url = f"/install/{registration.installer_token}"
    assert APIClient().get(url).status_code == 200
    again = APIClient().get(url)
    assert again.status_code == 410
    assert again.json() == {
        "status": "error",
        "message": "Installer token already used or expired.",
    }


def test_it_answers_410_once_expired(settings):
    settings.INSTALL_TOKEN_TTL = 0
    registration = _register()
    response = APIClient().get(f"/install/{registration.installer_token}")
    assert response.status_code == 410
    assert InstallerToken.objects.get(pk=registration.installer.pk).used_at is None


def test_it_answers_404_for_an_unknown_token_and_counts_it_as_a_failure(settings):
    settings.AUTH_FAIL_LIMIT = 2
    _register()
    prober = APIClient(REMOTE_ADDR="203.0.113.9")
    response = prober.get("/install/not-a-real-token")
    assert response.status_code == 404
    assert response.json() == {"status": "error", "message": "Installer token not found."}
    assert AuditEvent.objects.filter(action="auth.failed").count() == 1
    assert prober.get("/install/still-not-real").status_code == 404
    assert prober.get("/install/third-guess").status_code == 429


def test_it_answers_503_while_the_api_is_disabled():
    registration = _register()
    FleetSetting.objects.create(key="api_disabled", value=True)
    response = APIClient().get(f"/install/{registration.installer_token}")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "message": "API disabled by administrator"}
    # The link survives the outage.
    assert InstallerToken.objects.get(pk=registration.installer.pk).used_at is None


def test_it_keeps_the_link_when_the_script_cannot_be_built(settings):
    registration = _register()
    settings.PUBLIC_BASE_URL = "https://fleet.example.com/'; rm -rf ~; echo '"
    response = APIClient().get(f"/install/{registration.installer_token}")
    assert response.status_code == 500
    assert response.json()["status"] == "error"
    assert InstallerToken.objects.get(pk=registration.installer.pk).used_at is None


@pytest.mark.django_db(transaction=True)
def test_it_lets_exactly_one_of_two_concurrent_requests_win(monkeypatch):
    registration = _register()
    url = f"/install/{registration.installer_token}"
    # Both requests read the unused token before either claims it: the widest race there is.
    both_read = threading.Barrier(2, timeout=10)
    # PostgreSQL runs the two claims at once (the second waits on the row lock, then re-checks
    # the WHERE clause). SQLite admits one writer at a time and a file database waits for it;
    # the shared-cache in-memory test database errors instead of waiting, so here the claims
    # take turns, which is what SQLite does in production.
    writer = threading.Lock() if connection.vendor == "sqlite" else None
    holding = threading.local()
    original_find = services.installer_token_find

    def find_then_wait(*, token):
        row = original_find(token=token)
        both_read.wait()
        if writer is not None:
            writer.acquire()
            holding.lock = True
        return row

    monkeypatch.setattr(services, "installer_token_find", find_then_wait)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            statuses.append(APIClient().get(url).status_code)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()
            if writer is not None and getattr(holding, "lock", False):
                writer.release()

    threads = [threading.Thread(target=fetch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(statuses) == [200, 410]
    assert AuditEvent.objects.filter(action="host.install").count() == 1
    row = InstallerToken.objects.get(token_hash=sha256_hex(registration.installer_token))
    assert row.used_at is not None and row.pending_key_ciphertext == ""
