"""cdx end to end: the installed wrapper against a live server, a stub codex, throwaway HOMEs."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import select
import subprocess
import time
from datetime import UTC, datetime, timedelta

from tests.hostclients.conftest import (
    NEW_CODEX_VERSION,
    HostMachine,
    login,
    needs_host_tools,
    stub_codex_source,
)

pytestmark = needs_host_tools

STUB_LINE_TOTAL = (18500 + 3000 - 12000 - 1000) + (900 + 334)  # non-cached input + output


def retrieve(host: HostMachine) -> dict:
    auth = host.auth() if host.auth_path.exists() else None
    digest = "0" * 64
    if auth is not None:
        text = json.dumps(auth, ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256(text.encode()).hexdigest()
    status, _headers, data = host.fleet.host_request(
        host.api_key,
        "POST",
        "/auth",
        {
            "command": "retrieve",
            "last_refresh": (auth or {}).get("last_refresh", "2000-01-01T00:00:00Z"),
            "digest": digest,
        },
    )
    assert status == 200, data
    return json.loads(data)["data"]


def codex_rows(host: HostMachine) -> list[dict]:
    return [row for row in host.fleet.recent(host.fqdn) if row["messageId"].startswith("codex")]


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_it_shares_one_login_between_hosts_and_reports_each_run_once(make_host):
    alpha = make_host("alpha.e2e.test")
    # The installer: host key in a 0600 file, cdx holds no secret.
    assert oct(alpha.host_env.stat().st_mode & 0o777) == "0o600"
    assert alpha.api_key in alpha.host_env.read_text()
    assert alpha.api_key not in alpha.cdx.read_text()
    first_login = login(datetime.now(UTC) - timedelta(hours=2), "Alpha0001")
    alpha.write_auth(first_login)

    # 1. A newer login on this host becomes the canonical one (store on `upload_required`).
    run = alpha.cdx_run("exec", "fix the build")
    assert_ok(run)
    assert "working on: exec fix the build" in run.stdout
    assert re.search(
        r"ChatGPT quota: 5h 42% \(resets in 0h59m|1h00m\), weekly 17% \(resets in \d", run.stderr
    )
    stored = alpha.auth()
    assert stored["last_refresh"] == first_login["last_refresh"]
    assert list(stored)[-1] == "auths"  # the canonical bytes as the server stored them
    assert retrieve(alpha)["status"] == "valid"

    # 2. A fresh host pulls the canonical login before Codex starts.
    beta = make_host("beta.e2e.test")
    assert not beta.auth_path.exists()
    assert_ok(beta.cdx_run("exec", "hello"))
    assert beta.calls()[-1]["auth_last_refresh"] == first_login["last_refresh"]
    assert oct(beta.auth_path.stat().st_mode & 0o777) == "0o600"
    assert beta.auth() == stored
    assert 'cli_auth_credentials_store = "file"' in (beta.codex_home / "config.toml").read_text()

    # 3. Codex refreshes the login during a run on beta: pushed, and it becomes canonical.
    assert_ok(beta.cdx_run("exec", "refresh please", STUB_REFRESH="1"))
    refreshed = beta.auth()["last_refresh"]
    assert refreshed > first_login["last_refresh"]
    assert retrieve(beta)["status"] == "valid"
    assert retrieve(beta)["canonical_last_refresh"] == refreshed

    # 4. alpha receives it on its next run.
    assert_ok(alpha.cdx_run("exec", "again"))
    assert alpha.calls()[-1]["auth_last_refresh"] == refreshed
    assert alpha.auth()["last_refresh"] == refreshed

    # Codex never sees the host key.
    for host in (alpha, beta):
        for call in host.calls():
            assert call["env_values_with_key"] == []
            assert not [name for name in call["env"] if "KEY" in name]

    # Usage: one row per run, attributed to the host that ran it, model from the session log.
    alpha_rows, beta_rows = codex_rows(alpha), codex_rows(beta)
    assert len(alpha_rows) == 2 and len(beta_rows) == 2
    for row in alpha_rows + beta_rows:
        assert (row["input"], row["cacheRead"], row["output"], row["reasoning"]) == (
            8500,
            13000,
            1234,
            612,
        )
        assert row["model"] == "gpt-5.1-codex"
    assert {row["user"] for row in alpha_rows} == {"alice"}

    # The collector reads the same session logs and counts nothing twice, on beta too, whose
    # second run started less than two seconds after its first ended, with the same totals.
    for host in (alpha, beta):
        collected = host.collect("--verbose")
        assert collected.returncode == 0, collected.stderr
        assert len(codex_rows(host)) == 2, host.fqdn
    month = retrieve(alpha)["token_usage_month"]
    assert month == {
        "total": 2 * STUB_LINE_TOTAL,
        "input": 2 * 8500,
        "output": 2 * 1234,
        "cached": 2 * 13000,
        "reasoning": 2 * 612,
        "events": 2,
    }


def test_it_counts_codex_run_without_cdx_through_the_collector(make_host):
    gamma = make_host("gamma.e2e.test")
    # Codex run directly (not through cdx): only its session log knows.
    direct = subprocess.run(
        ["codex", "exec", "direct"],
        env=gamma.env(),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=gamma.home,
    )
    assert direct.returncode == 0, direct.stderr
    assert_ok(gamma.collect())
    assert_ok(gamma.collect())  # a second pass finds nothing new
    rows = sorted(codex_rows(gamma), key=lambda row: row["ts"])
    assert [(row["input"], row["cacheRead"], row["output"]) for row in rows] == [
        (6500, 12000, 900),
        (2000, 1000, 334),
    ]
    assert all(row["model"] == "gpt-5.1-codex" for row in rows)


def test_it_syncs_slash_commands_both_ways_with_deletions_and_conflicts(make_host):
    one = make_host("prompts-one.e2e.test")
    two = make_host("prompts-two.e2e.test")
    p1 = one.codex_home / "prompts"
    p2 = two.codex_home / "prompts"
    p1.mkdir(parents=True)
    (p1 / "e2e-review.md").write_text("---\ndescription: Review\n---\nReview $1 carefully.\n")
    (p1 / "e2e-keep.md").write_text("Keep this one.\n")
    (p1 / "e2e-notes.md").write_text("Notes v1\n")
    (p1 / "e2e-gone.md").write_text("Soon deleted on the server.\n")
    assert_ok(one.cdx_run("exec", "x"))  # pushes four new prompts
    assert_ok(two.cdx_run("exec", "x"))  # pulls them
    for name in ("e2e-review.md", "e2e-keep.md", "e2e-notes.md", "e2e-gone.md"):
        assert (p2 / name).read_bytes() == (p1 / name).read_bytes()

    # On two: an edit, a local deletion, and an edit that will conflict with one's.
    (p2 / "e2e-review.md").write_text("Review $1 very carefully.\n")
    (p2 / "e2e-keep.md").unlink()
    (p2 / "e2e-notes.md").write_text("Notes from two\n")
    (p1 / "e2e-notes.md").write_text("Notes from one\n")
    assert_ok(two.cdx_run("exec", "x"))
    # A deletion on the server (an admin removed the prompt).
    one.fleet.shell(
        "from hosts.models import SlashCommand; "
        "SlashCommand.objects.filter(filename='e2e-gone.md').delete()"
    )
    synced = one.cdx_run("exec", "x")
    assert_ok(synced)
    assert (p1 / "e2e-review.md").read_text() == "Review $1 very carefully.\n"
    assert not (p1 / "e2e-gone.md").exists()
    assert (p1 / "e2e-keep.md").exists()  # two's local deletion stays local
    # Both edited notes: the server's copy (two's, pushed first) wins; one's edit is kept beside.
    assert (p1 / "e2e-notes.md").read_text() == "Notes from two\n"
    beside = list(p1.glob("e2e-notes.md.local-*"))
    assert len(beside) == 1 and beside[0].read_text() == "Notes from one\n"
    assert "e2e-notes.md changed here and on the server" in synced.stderr

    assert_ok(two.cdx_run("exec", "x"))
    assert not (p2 / "e2e-keep.md").exists()  # not pulled back
    assert not (p2 / "e2e-gone.md").exists()
    assert (p2 / "e2e-notes.md").read_text() == "Notes from two\n"


def test_it_updates_itself_verified_and_re_executes_once(make_host):
    host = make_host("selfupdate.e2e.test")
    original = host.cdx.read_bytes()
    old = original.replace(
        b"CDX_WRAPPER_VERSION=", b"CDX_WRAPPER_VERSION=0.0.1-old #", 1
    )  # an older release
    host.cdx.write_bytes(old)

    run = host.cdx_run("exec", "two words", "--flag")
    assert_ok(run)
    assert "wrapper updated" in run.stderr
    assert host.cdx.read_bytes() == original
    status, headers, served = host.fleet.host_request(host.api_key, "GET", "/wrapper/download")
    assert status == 200 and served == original
    assert headers["x-sha256"] == hashlib.sha256(original).hexdigest()
    # Codex ran once, with the same arguments, from the re-executed wrapper.
    assert [call["args"] for call in host.calls()] == [["exec", "two words", "--flag"]]
    assert retrieve(host)["host"]["wrapper_version"] != "0.0.1-old"
    assert len(codex_rows(host)) == 1
    # The claim the replaced wrapper opened is gone; the re-executed run's claims its log.
    claims = [json.loads(path.read_text()) for path in (host.state / "claims").glob("*.json")]
    assert len(claims) == 1 and claims[0]["end"] and len(claims[0]["ranges"]) == 1
    assert host.collect().returncode == 0
    assert len(codex_rows(host)) == 1


def test_it_updates_codex_when_the_server_announces_a_newer_release(make_host, fleet):
    host = make_host("codexupdate.e2e.test")
    fleet.upstream.json(
        "/repos/openai/codex/releases/latest", {"tag_name": f"rust-v{NEW_CODEX_VERSION}"}
    )
    try:
        fleet.admin("POST", "/admin/versions/check")
        # Turned off by the flag (never passed on to codex) or the environment variable.
        assert_ok(host.cdx_run("--no-codex-update", "exec", "x", CDX_NO_CODEX_UPDATE=None))
        assert host.calls()[-1]["args"] == ["exec", "x"]
        assert 'VERSION = "0.60.0"' in (host.stubs / "codex").read_text()

        run = host.cdx_run("exec", "y", CDX_NO_CODEX_UPDATE=None)
        assert_ok(run)
        assert f"updated Codex 0.60.0 -> {NEW_CODEX_VERSION}" in run.stderr
        version = subprocess.run(
            ["codex", "--version"], env=host.env(), capture_output=True, text=True
        )
        assert version.stdout.strip() == f"codex-cli {NEW_CODEX_VERSION}"
        assert host.calls()[-1]["args"] == ["exec", "y"]
    finally:
        fleet.upstream.json("/repos/openai/codex/releases/latest", {"tag_name": "rust-v0.60.0"})
        fleet.admin("POST", "/admin/versions/check")


def test_it_updates_an_npm_installed_codex_with_npm(make_host, fleet):
    host = make_host("codexupdate-npm.e2e.test")
    package = host.home / "npm" / "lib" / "node_modules" / "@openai" / "codex" / "bin"
    package.mkdir(parents=True)
    (package / "codex.js").write_text(stub_codex_source("0.60.0"))
    (package / "codex.js").chmod(0o755)
    (host.stubs / "codex").unlink()
    (host.stubs / "codex").symlink_to(package / "codex.js")
    (host.home / "stub-template.py").write_text(stub_codex_source("__VERSION__"))
    npm = host.stubs / "npm"
    npm.write_text(
        "#!/usr/bin/env bash\n"
        'printf \'%s\\n\' "$*" >>"$HOME/npm.log"\n'
        'version="${3##*@}"\n'
        f'sed "s/__VERSION__/$version/" "$HOME/stub-template.py" >"{package}/codex.js"\n'
    )
    npm.chmod(0o755)
    fleet.upstream.json(
        "/repos/openai/codex/releases/latest", {"tag_name": f"rust-v{NEW_CODEX_VERSION}"}
    )
    try:
        fleet.admin("POST", "/admin/versions/check")
        run = host.cdx_run("exec", "npm", CDX_NO_CODEX_UPDATE=None)
        assert_ok(run)
        assert f"updated Codex 0.60.0 -> {NEW_CODEX_VERSION}" in run.stderr
        log = (host.home / "npm.log").read_text().splitlines()
        assert log == [f"install -g @openai/codex@{NEW_CODEX_VERSION}"]
        assert (host.stubs / "codex").is_symlink()  # npm's layout is left as npm made it
        assert f'VERSION = "{NEW_CODEX_VERSION}"' in (package / "codex.js").read_text()
    finally:
        fleet.upstream.json("/repos/openai/codex/releases/latest", {"tag_name": "rust-v0.60.0"})
        fleet.admin("POST", "/admin/versions/check")


def test_it_keeps_the_old_codex_when_the_update_does_not_run(make_host, fleet):
    host = make_host("codexupdate-bad.e2e.test")
    path = f"/download/rust-v{NEW_CODEX_VERSION}/codex-x86_64-unknown-linux-musl.tar.gz"
    good_asset = fleet.upstream.routes[path]
    fleet.upstream.raw(path, b"#!/bin/sh\nexit 1\n")  # not a working codex
    fleet.upstream.json(
        "/repos/openai/codex/releases/latest", {"tag_name": f"rust-v{NEW_CODEX_VERSION}"}
    )
    try:
        fleet.admin("POST", "/admin/versions/check")
        run = host.cdx_run("exec", "z", CDX_NO_CODEX_UPDATE=None)
        assert_ok(run)
        assert "could not update Codex" in run.stderr
        assert 'VERSION = "0.60.0"' in (host.stubs / "codex").read_text()
        assert [p.name for p in host.stubs.iterdir()] == ["codex"]  # no leftovers
        assert host.calls()[-1]["args"] == ["exec", "z"]
    finally:
        fleet.upstream.routes[path] = good_asset
        fleet.upstream.json("/repos/openai/codex/releases/latest", {"tag_name": "rust-v0.60.0"})
        fleet.admin("POST", "/admin/versions/check")


def test_it_runs_offline_with_the_cached_login_and_delivers_usage_later(make_host, fleet):
    host = make_host("offline.e2e.test")
    assert_ok(host.cdx_run("exec", "online"))
    cached = host.auth()
    fleet.server.stop()
    try:
        run = host.cdx_run("exec", "offline")
        assert run.returncode == 0, run.stderr
        assert run.stderr.count("unreachable") == 1
        assert host.calls()[-1]["auth_last_refresh"] == cached["last_refresh"]
        # Codex's session log holds this run: the collector counts it, cdx queues nothing.
        assert not (host.state / "usage-queue.jsonl").exists()
        status = host.cdx_run("--status")
        assert "queued:    0 usage line(s)" in status.stdout
        # A run whose Codex wrote no session log: its line is the only record, kept for later.
        run = host.cdx_run("exec", "no log", STUB_NO_SESSION_LOG="1")
        assert run.returncode == 0, run.stderr
        queued = (host.state / "usage-queue.jsonl").read_text().splitlines()
        assert len(queued) == 1 and "Token usage:" in queued[0]
    finally:
        fleet.server.start()
    assert_ok(host.cdx_run("exec", "back"))
    assert not (host.state / "usage-queue.jsonl").exists()
    assert len(codex_rows(host)) == 3  # online, no log, back: cdx's lines
    collected = host.collect()
    assert collected.returncode == 0, collected.stderr
    rows = codex_rows(host)
    assert len(rows) == 3 + 2  # the offline run's two turns, from its session log
    assert sum(row["input"] + row["cacheRead"] + row["output"] for row in rows) == 4 * (
        8500 + 13000 + 1234
    )


def test_it_counts_back_to_back_runs_once_whichever_reports_first(make_host):
    host = make_host("backtoback.e2e.test")
    assert_ok(host.cdx_run("exec", "one"))
    first = host.collect()  # between the runs: the first run's turns are cdx's
    assert first.returncode == 0, first.stderr
    assert_ok(host.cdx_run("exec", "two"))  # starts well within 2 s of the first's end
    second = host.collect()
    assert second.returncode == 0, second.stderr
    rows = codex_rows(host)
    assert len(rows) == 2 and all(row["messageId"].count(":") == 2 for row in rows)
    claims = [json.loads(path.read_text()) for path in (host.state / "claims").glob("*.json")]
    claimed = sorted(session for claim in claims for session in claim["sessions"])
    logs = sorted(path.name[-42:-6] for path in (host.codex_home / "sessions").rglob("*.jsonl"))
    assert claimed == logs  # each run claimed its own log


def test_it_removes_the_local_login_when_the_key_is_revoked(make_host, fleet):
    host = make_host("revoked.e2e.test")
    assert_ok(host.cdx_run("exec", "ok"))
    assert host.auth_path.exists()
    fleet.register(host.fqdn)  # rotating the key revokes the installed one

    run = host.cdx_run("exec", "after")
    assert run.returncode == 0, run.stderr
    assert not host.auth_path.exists()
    assert "Invalid API key" in run.stderr
    assert host.calls()[-1]["args"] == ["exec", "after"]  # Codex still runs (and asks to log in)


def test_an_interactive_run_keeps_the_terminal_and_still_reports_usage(make_host):
    host = make_host("tty.e2e.test")
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [str(host.cdx), "chat"],
        env=host.env(STUB_EXIT="3", TERM="xterm"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=host.home,
        start_new_session=True,
    )
    os.close(slave)
    output = b""
    sent = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not sent and b"stub-tty: yes" in output:
            os.write(master, b"hello from the keyboard\n")
            sent = True
        if process.poll() is not None and not ready:
            break
    os.close(master)
    assert process.wait(timeout=30) == 3  # Codex's exit code, through script and cdx
    text = output.decode(errors="replace")
    assert "stub-got: hello from the keyboard" in text
    assert host.calls()[-1]["tty"] is True
    rows = codex_rows(host)
    assert len(rows) == 1 and rows[0]["output"] == 1234


def test_version_status_and_uninstall(make_host, fleet):
    host = make_host("uninstall.e2e.test")
    version = host.cdx_run("--version")
    assert_ok(version)
    assert version.stdout.startswith(f"cdx 0.2.0 (uninstall.e2e.test, {fleet.url})")
    assert_ok(host.cdx_run("exec", "x"))
    status = host.cdx_run("--status")
    assert_ok(status)
    for expected in (f"server:    {fleet.url}", "host:      uninstall.e2e.test", "queued:    0"):
        assert expected in status.stdout
    assert "ChatGPT quota: 5h 42%" in status.stdout
    assert "refreshed" in status.stdout

    gone = host.cdx_run("--uninstall")
    assert_ok(gone)
    assert not host.cdx.exists()
    assert not (host.bin / "tokenfleet-collect").exists()
    assert not host.host_env.exists()
    assert host.auth_path.exists()  # Codex's own login is not ours to remove
    status, _headers, _data = fleet.host_request(host.api_key, "GET", "/wrapper")
    assert status == 401
