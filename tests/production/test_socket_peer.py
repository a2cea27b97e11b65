"""Forwarded headers on the real server (config/gunicorn.conf.py), over its Unix socket and its
loopback port, under the uvicorn worker `make run` uses and gunicorn's threaded WSGI worker.

Nothing is trusted by default: a forged mTLS header, X-Forwarded-For, -Proto or X-Request-Id
changes nothing, whichever way it arrives. With TRUSTED_PROXIES=unix the socket's peer (the
proxy) is believed and loopback still is not. The server itself never rewrites the client
address or scheme (uvicorn's and gunicorn's own proxy-header handling is off)."""

from __future__ import annotations

import subprocess

import pytest

from tests.production.served import (
    BIN,
    ROOT,
    audit_rows,
    call,
    free_port,
    gunicorn,
    prepare_data_dir,
)

WORKERS = {
    "uvicorn": [],  # the shipped config as is
    "gthread": ["--worker-class", "gthread", "--threads", "2", "config.wsgi:application"],
}
FORGED = {
    "X-mTLS-Present": "SUCCESS",
    "X-Forwarded-For": "198.51.100.7",
    "X-Forwarded-Proto": "https",
    "X-Request-Id": "edge-0123456789abcdef",
}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("socket-peer")
    environment = prepare_data_dir(data_dir)
    # As deploy/ runs the threaded worker: with Pushpin's GRIP_URL (gunicorn.conf.py refuses a
    # WSGI worker without it, since it cannot hold a stream). No stream is opened here.
    environment["GRIP_URL"] = "http://127.0.0.1:9?iss=pushpin&key=socket-peer-test-key-0123456789"
    issued = subprocess.run(
        [str(BIN / "python"), "manage.py", "issue_token", "--user", "ops", "--scope", "admin"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert issued.returncode == 0, issued.stderr
    return data_dir, environment, issued.stdout.strip().splitlines()[-1]


@pytest.fixture(params=sorted(WORKERS))
def worker(request):
    return request.param


def flip(target: str, headers: dict[str, str], value: bool):
    return call(target, "POST", "/admin/api/state", headers=headers, body={"api_disabled": value})


def test_it_believes_no_forwarded_header_on_default_settings(prepared, worker, tmp_path):
    data_dir, environment, admin_token = prepared
    socket_target = f"unix:{tmp_path / 'gunicorn.sock'}"
    tcp_target = f"127.0.0.1:{free_port()}"
    with gunicorn(
        environment, [socket_target, tcp_target], tmp_path / "log", extra_args=WORKERS[worker]
    ):
        for target in (socket_target, tcp_target):
            refused = flip(target, FORGED, True)
            assert refused.status in (401, 403), (target, refused.body)
            assert refused.json()["message"] == "Admin access requires mTLS or an admin token."
            assert refused.headers["X-Request-Id"] != FORGED["X-Request-Id"]

        before = len(audit_rows(data_dir, "api.state"))
        bearer = {**FORGED, "Authorization": f"Bearer {admin_token}"}
        assert flip(tcp_target, bearer, False).status == 200
        assert flip(socket_target, bearer, False).status == 200
    by_tcp, by_socket = audit_rows(data_dir, "api.state")[before:]
    assert by_tcp["ip"] == "127.0.0.1"  # the peer, not the forged address
    assert by_socket["ip"] is None  # a socket peer has no address, and nobody forwarded one


def test_it_believes_the_proxy_on_the_socket_and_nobody_on_loopback(prepared, worker, tmp_path):
    data_dir, environment, _admin_token = prepared
    socket_target = f"unix:{tmp_path / 'gunicorn.sock'}"
    tcp_target = f"127.0.0.1:{free_port()}"
    environment = {**environment, "TRUSTED_PROXIES": "unix"}
    with gunicorn(
        environment, [socket_target, tcp_target], tmp_path / "log", extra_args=WORKERS[worker]
    ):
        before = len(audit_rows(data_dir, "api.state"))
        proxied = flip(socket_target, FORGED, False)
        assert proxied.status == 200, proxied.body
        assert proxied.headers["X-Request-Id"] == FORGED["X-Request-Id"]

        forged = flip(tcp_target, FORGED, False)
        assert forged.status in (401, 403), forged.body
        assert forged.headers["X-Request-Id"] != FORGED["X-Request-Id"]
    rows = audit_rows(data_dir, "api.state")[before:]
    assert [(row["actor"], row["ip"]) for row in rows] == [("admin:mtls", "198.51.100.7")]


def test_it_takes_the_scheme_from_the_proxy_on_the_socket_only(prepared, worker, tmp_path):
    _data_dir, environment, _admin_token = prepared
    socket_target = f"unix:{tmp_path / 'gunicorn.sock'}"
    tcp_target = f"127.0.0.1:{free_port()}"
    environment = {**environment, "TRUSTED_PROXIES": "unix", "SECURE_SSL_REDIRECT": "true"}
    https = {"X-Forwarded-Proto": "https"}
    with gunicorn(
        environment, [socket_target, tcp_target], tmp_path / "log", extra_args=WORKERS[worker]
    ):
        assert call(socket_target, "GET", "/admin/api/state", headers=https).status in (401, 403)
        assert call(socket_target, "GET", "/admin/api/state").status == 301
        forged = call(tcp_target, "GET", "/admin/api/state", headers=https)
        assert forged.status == 301
        assert forged.headers["Location"] == "https://127.0.0.1/admin/api/state"
        # /health answers plain http everywhere, for probes that bypass the proxy.
        assert call(tcp_target, "GET", "/health").status == 200
