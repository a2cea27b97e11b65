"""End to end through the shipped nginx site (TLS, admin client certificates) in front of the
shipped gunicorn on a Unix socket, with the documented production environment (deploy/env.example,
on SQLite here). The test client connects from 127.0.0.2, so any address the app records can only
have come from nginx's X-Forwarded-For."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import uuid

import pytest

from tests.production.edge import (
    CLIENT_ADDRESS,
    find_binary,
    make_certificates,
    nginx,
    pushpin,
    read_until,
)
from tests.production.served import (
    BIN,
    ROOT,
    audit_rows,
    call,
    free_port,
    gunicorn,
    prepare_data_dir,
)

pytestmark = pytest.mark.skipif(
    not (find_binary("nginx") and find_binary("openssl") and find_binary("pushpin")),
    reason="nginx, openssl and pushpin are needed (.ci/run installs them)",
)

REFUSED = "Admin access requires mTLS or an admin token."


def documented_environment() -> dict[str, str]:
    values = {}
    for line in (ROOT / "deploy" / "env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    data_dir = folder / "data"
    data_dir.mkdir()
    production = documented_environment()
    for local in ("DATABASE_URL", "REDIS_URL", "DB_POOL", "DATA_DIR", "SECRET_KEY"):
        production.pop(local)  # SQLite in the temp dir; the secrets come from bootstrap
    production.pop("FIELD_ENCRYPTION_KEY")
    environment = {**prepare_data_dir(data_dir), **production}
    environment.update(ALLOWED_HOSTS="127.0.0.1,localhost", PUBLIC_BASE_URL="https://127.0.0.1")
    ingest = subprocess.run(
        [str(BIN / "python"), "manage.py", "issue_token", "--user", "alice", "--scope", "ingest"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ingest.returncode == 0, ingest.stderr
    socket_path = folder / "gunicorn.sock"
    direct = f"127.0.0.1:{free_port()}"  # also Pushpin's way in, as tokenfleet.socket has it
    tls = make_certificates(folder / "tls")
    # The documented GRIP_URL with a publish port of this test's own.
    environment["GRIP_URL"] = environment["GRIP_URL"].replace(":5561?", f":{free_port()}?")
    shipped = re.search(
        r"--workers 4 (.*)$",
        next(
            line
            for line in (ROOT / "deploy" / "systemd" / "tokenfleet.service")
            .read_text()
            .splitlines()
            if line.startswith("ExecStart=")
        ),
    )
    assert shipped, "tokenfleet.service no longer starts gunicorn with --workers 4"
    pushpin_port = f"127.0.0.1:{free_port()}"
    with (
        gunicorn(
            environment,
            [f"unix:{socket_path}", direct],
            folder / "gunicorn.log",
            extra_args=shipped.group(1).split(),
        ),
        pushpin(
            folder / "pushpin",
            bind=pushpin_port,
            origin=direct,
            environment=environment,
        ) as held_by,
        nginx(folder / "nginx", socket_path=socket_path, tls=tls, pushpin=held_by) as edge,
    ):
        yield {
            "edge": edge,
            "direct": direct,
            "pushpin_port": pushpin_port,
            "data_dir": data_dir,
            "ingest_token": ingest.stdout.strip().splitlines()[-1],
        }


def test_it_serves_health_over_tls_and_redirects_plain_http(stack):
    edge = stack["edge"]
    health = edge.call("GET", "/health")
    assert (health.status, health.json()) == (200, {"ok": True, "database": "ok"})
    # nginx's request id reaches the app and comes back; a client's own is replaced.
    assert re.fullmatch(r"[0-9a-f]{32}", health.headers["X-Request-Id"])
    chosen = edge.call("GET", "/health", headers={"X-Request-Id": "client-chosen-0123"})
    assert chosen.headers["X-Request-Id"] != "client-chosen-0123"
    # https is what the app believes: HSTS on every answer, no redirect loop.
    assert health.headers["Strict-Transport-Security"].startswith("max-age=31536000")

    import http.client

    plain = http.client.HTTPConnection("127.0.0.1", edge.http_port, timeout=10)
    plain.request("GET", "/admin/overview")
    answer = plain.getresponse()
    assert answer.status == 301
    assert answer.getheader("Location") == "https://127.0.0.1/admin/overview"
    plain.close()


def test_it_lets_an_admin_certificate_in_and_nobody_else(stack):
    edge = stack["edge"]
    allowed = edge.call("GET", "/admin/overview", certificate="admin")
    assert allowed.status == 200, allowed.body
    assert allowed.json()["data"]["mtls"]["from_trusted_proxy"] is True

    without = edge.call("GET", "/admin/overview")
    assert without.status in (401, 403) and without.json()["message"] == REFUSED
    forged = edge.call(
        "GET",
        "/admin/overview",
        headers={"X-mTLS-Present": "SUCCESS", "X-Forwarded-For": "127.0.0.1"},
    )
    assert forged.status in (401, 403) and forged.json()["message"] == REFUSED
    # A certificate from another CA is no admin either (nginx answers 400 for it).
    assert edge.call("GET", "/admin/overview", certificate="stranger").status in (400, 401, 403)


def test_it_keeps_django_admin_behind_the_certificate(stack):
    edge = stack["edge"]
    assert edge.call("GET", "/django-admin/").status == 403
    forged = edge.call("GET", "/django-admin/", headers={"X-mTLS-Present": "SUCCESS"})
    assert forged.status == 403
    reached = edge.call("GET", "/django-admin/", certificate="admin")
    assert reached.status == 302 and "/django-admin/login/" in reached.headers["Location"]


def test_it_ignores_forged_headers_sent_straight_to_the_app(stack):
    direct = stack["direct"]  # the same server's loopback port, beside the proxy's socket
    forged = call(
        direct,
        "GET",
        "/admin/overview",
        headers={
            "X-mTLS-Present": "SUCCESS",
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
        },
    )
    # Not believed: not https (so redirected by SECURE_SSL_REDIRECT), and not admin either.
    assert forged.status == 301
    assert call(direct, "GET", "/health").status == 200


def bound_ip(data_dir, fqdn: str) -> str | None:
    with sqlite3.connect(data_dir / "tokenfleet.sqlite3") as database:
        row = database.execute("SELECT bound_ip FROM hosts_host WHERE fqdn = ?", (fqdn,)).fetchone()
    return row[0]


def test_it_records_the_test_clients_address_for_binding_and_audit(stack):
    edge, data_dir = stack["edge"], stack["data_dir"]
    registered = edge.call(
        "POST",
        "/admin/hosts/register",
        certificate="admin",
        headers={"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.66"},
        body=json.dumps({"fqdn": "edge-01.example.com", "owner": "ops"}).encode(),
    )
    assert registered.status == 201, registered.body
    api_key = registered.json()["data"]["host"]["api_key"]

    retrieve = {"command": "retrieve", "last_refresh": "2026-11-20T10:00:00Z", "digest": "a" * 64}
    edge.call(
        "POST",
        "/auth",
        headers={
            "Content-Type": "application/json",
            "X-API-Key": api_key,
            "X-Forwarded-For": "198.51.100.66",
        },
        body=json.dumps(retrieve).encode(),
    )
    assert bound_ip(data_dir, "edge-01.example.com") == CLIENT_ADDRESS
    register = [row for row in audit_rows(data_dir, "host.register") if "edge-01" in row["meta"]]
    assert [row["ip"] for row in register] == [CLIENT_ADDRESS]
    assert [row["ip"] for row in audit_rows(data_dir, "auth.bind_ip")][-1] == CLIENT_ADDRESS


def test_it_streams_server_sent_events_through_the_proxy_unbuffered(stack):
    edge = stack["edge"]
    stream = edge.open_stream("/api/usage/stream")
    seen = bytearray()
    try:
        read_until(stream, seen, b"event: totals", 1, wait=10)
        head = bytes(seen).split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 200") and b"text/event-stream" in head

        message = {
            "message_id": f"msg_{uuid.uuid4().hex}",
            "model": "claude-sonnet-4-5",
            "input_tokens": 100,
            "output_tokens": 50,
            "ts": int(time.time()),
        }
        sent_at = time.monotonic()
        ingested = edge.call(
            "POST",
            "/api/ingest/messages",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {stack['ingest_token']}",
            },
            body=json.dumps({"machine": "edge", "messages": [message]}).encode(),
        )
        assert ingested.status == 200, ingested.body
        # One small event, well under any proxy buffer: it arrives only if nothing buffers it.
        read_until(stream, seen, b"event: totals", 2, wait=5)
        assert time.monotonic() - sent_at < 5
    finally:
        stream.close()


def test_it_gives_the_stream_routes_the_clients_address_through_pushpin(stack):
    """nginx → Pushpin (its Unix socket) → the app: a stream request's refused credential is
    audited with the client's address, as every other route's, not Pushpin's 127.0.0.1."""
    edge, data_dir = stack["edge"], stack["data_dir"]
    marker = uuid.uuid4().hex[:12]
    refused = edge.call(
        "GET",
        f"/api/usage/stream?token=wr_{marker}{'x' * 31}",
        headers={"Accept": "text/event-stream", "X-Forwarded-For": "198.51.100.66"},
    )
    assert refused.status == 401, refused.body
    failed = [
        row for row in audit_rows(data_dir, "auth.failed") if "/api/usage/stream" in row["meta"]
    ]
    assert failed and failed[-1]["ip"] == CLIENT_ADDRESS


def test_it_believes_no_forwarded_address_sent_to_pushpins_own_port(stack):
    """A local client that reaches Pushpin's loopback port itself, bypassing nginx, forges the
    header nginx would set: Pushpin appends 127.0.0.1, which nothing trusts, so that is all the
    app records. Straight to the app with a Grip-Sig of another key: the same."""
    import http.client

    import jwt

    data_dir = stack["data_dir"]
    host, port = stack["pushpin_port"].rsplit(":", 1)
    forged = {"Accept": "text/event-stream", "X-Forwarded-For": "203.0.113.9"}
    before = len(audit_rows(data_dir, "auth.failed"))
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", f"/api/usage/stream?token=wr_{'y' * 43}", headers=forged)
        assert connection.getresponse().status == 401
    finally:
        connection.close()
    bad_sig = jwt.encode({"iss": "pushpin", "exp": int(time.time()) + 60}, "not-our-key-" * 4)
    answer = call(
        stack["direct"],
        "GET",
        f"/api/usage/stream?token=wr_{'z' * 43}",
        headers={**forged, "Grip-Sig": bad_sig},
    )
    assert answer.status in (301, 421)  # not believed: plain http is redirected, or not proxied
    recorded = [row["ip"] for row in audit_rows(data_dir, "auth.failed")[before:]]
    assert recorded and set(recorded) == {"127.0.0.1"}
