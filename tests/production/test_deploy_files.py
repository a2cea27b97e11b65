"""deploy/: the systemd units verify, the documented production environment passes
`check --deploy` at WARNING level, and the nginx site agrees with the app's settings."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from django.conf import settings

from tests.production.served import BIN, ROOT, call, prepare_data_dir, stop

DEPLOY = ROOT / "deploy"
UNITS = (
    "tokenfleet.socket",
    "tokenfleet.service",
    "tokenfleet-runner.service",
    "tokenfleet-pushpin.service",
)


def documented_environment() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_the_systemd_units_verify(tmp_path):
    # Only the install paths change: verify checks that ExecStart's programs exist.
    (tmp_path / "env").write_text("")
    for unit in UNITS:
        text = (DEPLOY / "systemd" / unit).read_text()
        assert "/opt/tokenfleet" in text or unit.endswith(".socket")
        text = text.replace("/opt/tokenfleet", str(ROOT))
        text = text.replace("/etc/tokenfleet/env", str(tmp_path / "env"))
        (tmp_path / unit).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(f"./{unit}" for unit in UNITS)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""  # unknown keys are only warnings: none either


def test_the_units_run_what_the_readme_says():
    socket_unit = (DEPLOY / "systemd" / "tokenfleet.socket").read_text()
    web = (DEPLOY / "systemd" / "tokenfleet.service").read_text()
    runner = (DEPLOY / "systemd" / "tokenfleet-runner.service").read_text()
    assert "ListenStream=/run/tokenfleet/gunicorn.sock" in socket_unit
    assert "SocketMode=0660" in socket_unit and "SocketGroup=www-data" in socket_unit
    start = next(line for line in web.splitlines() if line.startswith("ExecStart="))
    assert "-c config/gunicorn.conf.py" in start and "--bind" not in start  # systemd's socket
    assert "manage.py runner" in runner
    # The threaded WSGI worker behind Pushpin, which reaches the app on the socket's loopback port.
    assert "--worker-class gthread" in start and start.endswith("config.wsgi:application")
    pushpin = (DEPLOY / "systemd" / "tokenfleet-pushpin.service").read_text()
    assert "ListenStream=127.0.0.1:8001" in socket_unit
    assert "--origin 127.0.0.1:8001" in pushpin and "--behind-proxy" in pushpin
    assert "--bind 127.0.0.1:7999" in pushpin
    # nginx reaches Pushpin over its socket, in a directory of nginx's group only.
    pushpin_socket = "/run/tokenfleet-pushpin-socket/pushpin.sock"
    assert f"server unix:{pushpin_socket};" in site() and f"--socket {pushpin_socket}" in pushpin
    assert "RuntimeDirectory=tokenfleet-pushpin tokenfleet-pushpin-socket" in pushpin
    assert "chgrp www-data /run/tokenfleet-pushpin-socket" in pushpin
    assert "chmod 2750 /run/tokenfleet-pushpin-socket" in pushpin and "UMask=0007" in pushpin
    assert "GRIP_URL" in documented_environment()
    for unit in (web, runner, pushpin):
        assert "EnvironmentFile=/etc/tokenfleet/env" in unit


@pytest.mark.skipif(
    not shutil.which("systemd-socket-activate"), reason="systemd-socket-activate is not installed"
)
def test_gunicorn_serves_on_the_socket_systemd_hands_it(tmp_path):
    """What tokenfleet.socket + tokenfleet.service do, with systemd's own activation tool: the
    listening socket arrives as fd 3, gunicorn takes it without --bind, and its peer (nginx in
    production) is the Unix socket that TRUSTED_PROXIES=unix trusts."""
    environment = {**prepare_data_dir(tmp_path / "data"), "TRUSTED_PROXIES": "unix"}
    socket_path = tmp_path / "gunicorn.sock"
    passed = [f"--setenv={name}" for name in environment]
    log = tmp_path / "log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            ["systemd-socket-activate", *passed, "--listen", str(socket_path)]
            + [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "--workers", "1"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        while not socket_path.exists():
            assert server.poll() is None and time.monotonic() - started < 10, log.read_text()
            time.sleep(0.05)
        # The first connection starts gunicorn, which answers it once booted.
        health = call(f"unix:{socket_path}", "GET", "/health")
        assert health.status == 200, log.read_text()
        overview = call(
            f"unix:{socket_path}", "GET", "/admin/overview", headers={"X-mTLS-Present": "SUCCESS"}
        )
        assert overview.status == 200, overview.body
        assert overview.json()["data"]["mtls"]["from_trusted_proxy"] is True
    finally:
        stop(server)
    assert "Listening at: unix:" in log.read_text()


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    environment.update(documented_environment())
    printed = subprocess.run(
        [sys.executable, "-m", "config.bootstrap", "--print"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    for line in printed.stdout.splitlines():
        name, _, value = line.partition("=")
        environment[name] = value
    environment["DATA_DIR"] = str(tmp_path / "data")
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_warns_on_the_zero_setup_defaults(tmp_path):
    # The other side: without the documented values Django's own deploy checks speak up.
    result = subprocess.run(
        [str(BIN / "python"), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "SECRET_KEY": "x" * 10 + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP",
            "FIELD_ENCRYPTION_KEY": "bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s=",
            "DATA_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    for check_id in ("security.W004", "security.W008", "accounts.W006"):
        assert check_id in result.stderr


def site() -> str:
    return (DEPLOY / "nginx" / "tokenfleet.conf").read_text()


def test_the_site_takes_bodies_as_large_as_the_app_does():
    size = re.search(r"client_max_body_size (\d+)m;", site())
    assert size and int(size.group(1)) * 1024 * 1024 == settings.MAX_REQUEST_BODY_BYTES
    assert settings.INGEST_MAX_BATCH * 1024 < settings.MAX_REQUEST_BODY_BYTES  # a batch fits


def test_the_site_streams_every_sse_route_unbuffered():
    stream_block = re.search(r"location ~ \^/\(([^)]*)\)\$ \{(.*?)\n    \}", site(), re.S)
    assert stream_block
    assert set(stream_block.group(1).split("|")) == {"api/usage/stream", "embed/stream"}
    assert "proxy_buffering off;" in stream_block.group(2)


def test_the_site_sets_the_header_the_app_reads_and_the_socket_the_unit_makes():
    text = site()
    assert f"proxy_set_header {settings.ADMIN_MTLS_HEADER} $tokenfleet_mtls;" in text
    assert "server unix:/run/tokenfleet/gunicorn.sock" in text
    for header in ("X-Forwarded-For $remote_addr", "X-Forwarded-Proto $scheme", "X-Request-Id"):
        assert f"proxy_set_header {header}" in text
    # Headers are set once, at server level: a location with its own proxy_set_header would
    # silently drop all of them there (nginx inherits them only into locations that set none).
    locations = re.findall(r"\n    location [^{]*\{(.*?)\n    \}", text, re.S)
    assert locations and not any("proxy_set_header" in body for body in locations)
