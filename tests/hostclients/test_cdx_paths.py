"""cdx paths a live server does not take on demand, against a scripted fake server: no login
anywhere, and a wrapper download that does not match its announced sha256."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from hosts.wrapper.bake import bake
from tests.hostclients.conftest import (
    needs_host_tools,
    stub_codex_source,
    tool_dir,
    upstream_server,
)

pytestmark = needs_host_tools


def answer(status: str, **extra) -> dict:
    return {
        "status": "ok",
        "data": {
            "status": status,
            "chatgpt_usage": {
                "available": False,
                "status": "unavailable",
                "next_eligible_at": None,
            },
            "versions": {"client_version": None, "wrapper_sha256": None},
            **extra,
        },
    }


@pytest.fixture
def fake_host(tmp_path, settings):
    with upstream_server() as fake:
        settings.PUBLIC_BASE_URL = fake.url
        home = tmp_path / "home"
        bin_dir = home / ".local" / "bin"
        bin_dir.mkdir(parents=True)
        (home / "tmp").mkdir()
        cdx = bin_dir / "cdx"
        cdx.write_bytes(bake(host=SimpleNamespace(fqdn="fake.e2e.test")))
        cdx.chmod(0o755)
        stubs = tmp_path / "stubs"
        stubs.mkdir()
        (stubs / "codex").write_text(stub_codex_source("0.60.0"))
        (stubs / "codex").chmod(0o755)
        config = home / ".config" / "tokenfleet"
        config.mkdir(parents=True)
        (config / "host.env").write_text(
            f"TOKENFLEET_URL={fake.url}\nTOKENFLEET_HOST_KEY=hk_FakeHostKey0123456789abcdefgh\n"
        )
        fake.json("/slash-commands", {"status": "ok", "data": {"commands": []}})
        fake.json("/usage", {"status": "ok", "data": {"recorded": 1, "usages": []}})
        env = {
            "HOME": str(home),
            "PATH": f"{bin_dir}:{stubs}:{tool_dir(tmp_path)}",
            "TMPDIR": str(home / "tmp"),
            "CDX_NO_CODEX_UPDATE": "1",
        }
        yield SimpleNamespace(fake=fake, home=home, cdx=cdx, env=env)


def run(host, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(host.cdx), *args],
        env=host.env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_it_says_once_how_to_log_in_when_no_login_exists_anywhere(fake_host):
    fake_host.fake.json("/auth", answer("missing", canonical_digest=None))
    first = run(fake_host, "exec", "one")
    second = run(fake_host, "exec", "two")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "run `codex login` once" in first.stderr
    assert "codex login" not in second.stderr
    assert "working on: exec two" in second.stdout  # Codex runs anyway
    stores = [body for body in fake_host.fake.bodies if body and body.get("command") == "store"]
    assert stores == []  # nothing to store
    # The quota line tolerates the new status fields and stays quiet when nothing is known.
    assert "ChatGPT quota" not in first.stderr


def test_it_keeps_itself_when_the_download_does_not_match_the_announced_sha(fake_host):
    original = fake_host.cdx.read_bytes()
    fake_host.fake.json(
        "/auth", answer("missing", versions={"wrapper_sha256": "ab" * 32, "client_version": None})
    )
    fake_host.fake.raw("/wrapper/download", b"#!/usr/bin/env bash\necho tampered\n")
    result = run(fake_host, "exec", "safe")
    assert result.returncode == 0, result.stderr
    assert "does not match the server's sha256" in result.stderr
    assert fake_host.cdx.read_bytes() == original
    assert "working on: exec safe" in result.stdout
    assert not [p for p in Path(fake_host.cdx.parent).iterdir() if p.name != "cdx"]


def test_a_disabled_host_loses_its_local_login_but_codex_still_runs(fake_host):
    auth = fake_host.home / ".codex" / "auth.json"
    auth.parent.mkdir()
    auth.write_text(
        '{"tokens": {"access_token": "eyJ.x.y"}, "last_refresh": "2026-11-20T10:00:00Z"}'
    )
    fake_host.fake.routes["/auth"] = (
        403,
        b'{"status": "error", "message": "Host is disabled"}',
        "application/json",
    )
    result = run(fake_host, "exec", "still")
    assert result.returncode == 0, result.stderr
    assert not auth.exists()
    assert "Host is disabled" in result.stderr
    assert "working on: exec still" in result.stdout
    assert result.stderr.count("Host is disabled") == 1


def test_it_takes_over_the_key_of_the_public_client_and_says_when_there_is_none(fake_host):
    fake_host.fake.json("/auth", answer("missing", canonical_digest=None))
    host_env = fake_host.home / ".config" / "tokenfleet" / "host.env"
    host_env.unlink()
    nokey = run(fake_host, "exec", "nokey")
    assert nokey.returncode == 0, nokey.stderr
    assert "this host has no tokenfleet key" in nokey.stderr
    assert "/auth" not in fake_host.fake.hits

    legacy = fake_host.home / ".config" / "cdx" / "credentials.env"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(
        f'CODEX_SYNC_BASE_URL="{fake_host.fake.url}/"\n'
        'CODEX_SYNC_API_KEY="hk_PublicClientKey0123456789abcdef"\n'
    )
    moved = run(fake_host, "exec", "moved")
    assert moved.returncode == 0, moved.stderr
    assert "moved this host's key" in moved.stderr
    assert "TOKENFLEET_HOST_KEY=hk_PublicClientKey0123456789abcdef\n" in host_env.read_text()
    assert oct(host_env.stat().st_mode & 0o777) == "0o600"
    assert "/auth" in fake_host.fake.hits
