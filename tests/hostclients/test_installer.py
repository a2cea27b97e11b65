"""The install script end to end: `curl <link> | bash` in a throwaway HOME."""

from __future__ import annotations

import hashlib
import os
import subprocess

from tests.hostclients.conftest import needs_host_tools
from usage.collector import collector_source

pytestmark = needs_host_tools

SYSTEMCTL = """#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$HOME/systemctl.log"
exit 0
"""
CRONTAB = """#!/usr/bin/env bash
if [ "$1" = "-l" ]; then
  [ -f "$HOME/crontab.txt" ] || exit 1
  cat "$HOME/crontab.txt"
elif [ "$1" = "-" ]; then
  cat >"$HOME/crontab.txt"
fi
"""


def stub(host, name: str, text: str) -> None:
    path = host.stubs / name
    path.write_text(text)
    path.chmod(0o755)


def test_it_installs_cdx_the_collector_and_a_systemd_timer_idempotently(make_host, fleet):
    host = make_host("install-systemd.e2e.test", install=False)
    stub(host, "systemctl", SYSTEMCTL)
    first = fleet.register(host.fqdn)
    result = host.install(first["installer"]["url"])
    assert result.returncode == 0, host.install_output

    assert oct(host.host_env.stat().st_mode & 0o777) == "0o600"
    assert oct(host.host_env.parent.stat().st_mode & 0o777) == "0o700"
    env = dict(line.split("=", 1) for line in host.host_env.read_text().splitlines() if "=" in line)
    assert env == {
        "TOKENFLEET_URL": fleet.url,
        "TOKENFLEET_FQDN": host.fqdn,
        "TOKENFLEET_HOST_KEY": first["host"]["api_key"],
    }
    status, _headers, wrapper = fleet.host_request(
        first["host"]["api_key"], "GET", "/wrapper/download"
    )
    assert status == 200 and host.cdx.read_bytes() == wrapper
    collector = host.bin / "tokenfleet-collect"
    assert collector.read_bytes() == collector_source()
    assert os.access(host.cdx, os.X_OK) and os.access(collector, os.X_OK)
    assert not (host.bin / "__pycache__").exists()
    units = host.home / ".config" / "systemd" / "user"
    service = (units / "tokenfleet-collect.service").read_text()
    assert f"ExecStart={collector} --once" in service
    assert "OnUnitActiveSec=10min" in (units / "tokenfleet-collect.timer").read_text()
    calls = (host.home / "systemctl.log").read_text().splitlines()
    assert "--user enable --now tokenfleet-collect.timer" in calls
    out = result.stdout
    assert f"installed cdx at {host.cdx} (sha256 {hashlib.sha256(wrapper).hexdigest()})" in out
    assert "enabled the user systemd timer" in out
    assert first["host"]["api_key"] not in out + result.stderr
    # The link was single use.
    token_path = "/install/" + first["installer"]["url"].rsplit("/", 1)[1]
    assert fleet.server.request("GET", token_path)[0] == 410

    # Again with a fresh link (the key rotates): same files, the new key, still one timer.
    second = fleet.register(host.fqdn)
    again = host.install(second["installer"]["url"])
    assert again.returncode == 0, host.install_output
    assert f"TOKENFLEET_HOST_KEY={second['host']['api_key']}\n" in host.host_env.read_text()
    assert first["host"]["api_key"] not in host.host_env.read_text()
    assert sorted(p.name for p in units.iterdir()) == [
        "tokenfleet-collect.service",
        "tokenfleet-collect.timer",
    ]
    assert sorted(p.name for p in host.bin.iterdir()) == ["cdx", "tokenfleet-collect"]
    # The installed pair works with the new key.
    run = host.cdx_run("exec", "after install")
    assert run.returncode == 0, run.stderr
    collected = host.collect()
    assert collected.returncode == 0, collected.stderr


def test_it_falls_back_to_cron_then_to_a_hint(make_host, fleet):
    cron = make_host("install-cron.e2e.test", install=False)
    stub(cron, "crontab", CRONTAB)
    (cron.home / "crontab.txt").write_text("0 * * * * echo mine\n")
    for _ in range(2):
        link = fleet.register(cron.fqdn)["installer"]["url"]
        result = cron.install(link)
        assert result.returncode == 0, cron.install_output
    table = (cron.home / "crontab.txt").read_text().splitlines()
    assert table[0] == "0 * * * * echo mine"  # the user's own entries stay
    assert table[1:] == [
        f"*/10 * * * * {cron.bin}/tokenfleet-collect --once >/dev/null 2>&1 # tokenfleet-collect"
    ]
    assert "added a crontab entry" in result.stdout

    bare = make_host("install-bare.e2e.test", install=False)
    result = bare.install(fleet.register(bare.fqdn)["installer"]["url"])
    assert result.returncode == 0, bare.install_output
    assert "no systemd user session and no crontab" in result.stdout
    assert (bare.bin / "tokenfleet-collect").exists()


def test_it_installs_into_cdx_install_dir_and_says_when_it_is_not_on_path(make_host, fleet):
    host = make_host("install-dir.e2e.test", install=False)
    target = host.home / "opt" / "bin"
    link = fleet.register(host.fqdn)["installer"]["url"]
    result = subprocess.run(
        ["bash", "-c", 'curl -fsSL "$1" | bash', "-", link],
        env=host.env(CDX_INSTALL_DIR=str(target)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert (target / "cdx").exists() and (target / "tokenfleet-collect").exists()
    assert f"note: {target} is not on your PATH" in result.stdout
