"""Real servers for the production tests: gunicorn exactly as shipped (config/gunicorn.conf.py) on
a fresh SQLite file, bound to a Unix socket and/or a loopback port, and plain HTTP over either."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = ROOT / ".venv" / "bin"
DEADLINE_SECONDS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def base_environment(data_dir: Path) -> dict[str, str]:
    """What a server gets on a fresh machine, plus its data directory: nothing else inherited."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data_dir),
        "DATA_DIR": str(data_dir),
        "STATIC_ROOT": str(data_dir / "static"),
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
    }


def prepare_data_dir(data_dir: Path) -> dict[str, str]:
    """Secrets and a migrated SQLite database, as `make run` makes them."""
    environment = base_environment(data_dir)
    python = str(BIN / "python")
    for args in (["-m", "config.bootstrap"], ["manage.py", "migrate", "--noinput", "-v", "0"]):
        result = subprocess.run(
            [python, *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr
    return environment


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 10) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def call(
    target: str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: dict | None = None,
) -> Answer:
    """One request to `unix:<path>` or `host:port`."""
    if target.startswith("unix:"):
        connection: http.client.HTTPConnection = UnixHTTPConnection(target[5:])
    else:
        host, port = target.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
    payload = None if body is None else json.dumps(body).encode()
    sent = {"Host": "127.0.0.1", **(headers or {})}
    if payload is not None:
        sent["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=payload, headers=sent)
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def stop(server: subprocess.Popen) -> None:
    """SIGTERM the process group this test started, then make sure."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=8)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)


@contextmanager
def gunicorn(
    environment: dict[str, str],
    binds: list[str],
    log_path: Path,
    extra_args: list[str] | None = None,
) -> Iterator[subprocess.Popen]:
    """gunicorn with the shipped config on `binds` (`unix:<path>` or `host:port`), until /health
    answers on the first of them."""
    args = [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "--workers", "1"]
    for bind in binds:
        args += ["--bind", bind]
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            args + (extra_args or []),
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = time.monotonic()
    try:
        while True:
            assert server.poll() is None, log_path.read_text()
            try:
                if call(binds[0], "GET", "/health").status == 200:
                    break
            except OSError:
                pass  # not listening yet, or the worker is still booting
            assert time.monotonic() - started < DEADLINE_SECONDS, log_path.read_text()
            time.sleep(0.1)
        yield server
    finally:
        stop(server)


def audit_rows(data_dir: Path, action: str) -> list[dict]:
    """The audit events the server wrote, read straight from its SQLite file."""
    with sqlite3.connect(data_dir / "tokenfleet.sqlite3") as database:
        database.row_factory = sqlite3.Row
        rows = database.execute(
            "SELECT actor, ip, meta FROM accounts_auditevent WHERE action = ? ORDER BY id",
            (action,),
        ).fetchall()
    return [dict(row) for row in rows]
