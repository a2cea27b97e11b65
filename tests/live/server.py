"""Real servers for live tests: a migrated database of their own, uvicorn (or gunicorn with the
uvicorn worker) on a free loopback port, and a small blocking SSE reader.

The servers cannot see pytest-django's test database (in memory on SQLite, inside a transaction
on PostgreSQL), so they get one of their own: an SQLite file in a temporary directory, or a
PostgreSQL database named after TEST_DB_NAME that is created and dropped here. Tests write to it
through the servers' HTTP API or through a separate Python process (`insert_usage.py`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_manage(env: dict[str, str], *args: str, timeout: float = 180.0) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def issue_token(env: dict[str, str], *, user: str, scope: str) -> str:
    """A token in the servers' database; `issue_token` prints the plaintext on its last line."""
    out = run_manage(env, "issue_token", "--user", user, "--scope", scope, timeout=60)
    return out.strip().splitlines()[-1].strip()


def insert_usage(
    env: dict[str, str], *, machine: str, batches: int = 1, per_batch: int = 1
) -> None:
    """Insert usage from a separate process (as a management command would), one commit per
    batch; returns when that process has exited."""
    result = subprocess.run(
        [
            PYTHON,
            str(Path(__file__).with_name("insert_usage.py")),
            "--machine",
            machine,
            "--batches",
            str(batches),
            "--per-batch",
            str(per_batch),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"insert_usage failed:\n{result.stdout}{result.stderr}")


# --- The servers' database ---------------------------------------------------------------------


def _postgres_admin_connect(url: str):
    import psycopg

    parts = urlsplit(url)
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or None,
        password=parts.password or None,
        dbname=parts.path.lstrip("/") or "postgres",
        autocommit=True,
        connect_timeout=10,
    )


@contextlib.contextmanager
def server_database(tmp: Path):
    """Yields the DATABASE_URL of a fresh, not yet migrated database for servers; drops it after."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        yield f"sqlite:///{tmp / 'live.sqlite3'}"
        return
    name = f"{os.environ.get('TEST_DB_NAME') or 'test_live'}_servers"
    with _postgres_admin_connect(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with _postgres_admin_connect(url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(tmp: Path, database_url: str, **overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    prefix = os.environ.get("CACHE_KEY_PREFIX", "tokenfleet")
    env.update(
        {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(tmp),
            "STATIC_ROOT": str(tmp / "static"),
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            # Pub/sub channels and cache keys are named after it: runs never hear each other.
            "CACHE_KEY_PREFIX": f"{prefix}-live-{os.getpid()}",
        }
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(overrides)
    return env


# --- Servers -------------------------------------------------------------------------------------


@dataclass
class LiveServer:
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    workers: int = 0  # 0: plain uvicorn; n: gunicorn with n uvicorn workers (as `make run`)
    uvicorn_workers: int = 1  # uvicorn's own process manager, when workers is 0
    # n > 0: gunicorn's threaded WSGI worker with n threads each (as `make run-production`)
    threads: int = 0
    process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.threads:
            return [
                PYTHON,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.conf.py",
                "--worker-class",
                "gthread",
                "--threads",
                str(self.threads),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(max(1, self.workers)),
                "--graceful-timeout",
                "2",
                "config.wsgi:application",
            ]
        if self.workers:
            return [
                PYTHON,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--graceful-timeout",
                "2",
            ]
        extra = ["--workers", str(self.uvicorn_workers)] if self.uvicorn_workers > 1 else []
        return [
            PYTHON,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--timeout-graceful-shutdown",
            "1",
            *extra,
        ]

    def start(self) -> LiveServer:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited at start:\n{self.log_tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _headers, _body = self.request("GET", "/health", timeout=2)
                if status == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise AssertionError(
            f"server did not answer /health in {START_TIMEOUT}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_bytes()[-size:].decode("utf-8", "replace")
        except OSError:
            return ""

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            all_headers = dict(headers or {})
            if payload is not None:
                all_headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            connection.close()

    def json(self, method: str, path: str, **kwargs) -> dict:
        status, _headers, data = self.request(method, path, **kwargs)
        assert status < 300, (status, data)
        return json.loads(data) if data else {}

    def stream(self, path: str = "/api/usage/stream", headers: dict | None = None) -> SseClient:
        return SseClient(self.port, path, headers=headers)


# --- A blocking SSE reader --------------------------------------------------------------------


@dataclass
class Frame:
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)
    received_at: float = 0.0

    def json(self) -> dict:
        return json.loads(self.data or "null")


class SseClient:
    """Reads frames off one `text/event-stream` response; every read has a deadline."""

    def __init__(self, port: int, path: str, headers: dict | None = None, timeout: float = 10.0):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connection.request(
            "GET", path, headers={"Accept": "text/event-stream", **(headers or {})}
        )
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.buffer = b""

    def __enter__(self) -> SseClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.sock and self.connection.sock.shutdown(socket.SHUT_RDWR)
        self.connection.close()

    def next_frame(self, timeout: float = 10.0) -> Frame:
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no SSE frame within {timeout}s")
            self.connection.sock.settimeout(remaining)
            try:
                chunk = self.response.read1(65536)
            except TimeoutError:
                raise TimeoutError(f"no SSE frame within {timeout}s") from None
            if not chunk:
                raise ConnectionError("stream closed by the server")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\n\n", 1)
        frame = Frame(received_at=time.monotonic())
        data_lines = []
        for line in raw.decode("utf-8").split("\n"):
            if line.startswith(":"):
                frame.comments.append(line[1:].strip())
            elif line.startswith("event:"):
                frame.event = line[6:].strip()
            elif line.startswith("data:"):
                data_lines.append(line[5:].removeprefix(" "))
            elif line.startswith("retry:"):
                frame.retry = int(line[6:].strip())
        if data_lines:
            frame.data = "\n".join(data_lines)
        return frame

    def next_event(self, name: str = "totals", timeout: float = 10.0) -> Frame:
        """The next frame that is event `name`, skipping comments and bare fields."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next_frame(timeout=max(0.01, deadline - time.monotonic()))
            if frame.event == name:
                return frame

    def events_until(self, deadline: float, name: str = "totals") -> list[Frame]:
        """Every `name` event until the monotonic `deadline`."""
        frames = []
        while time.monotonic() < deadline:
            try:
                frame = self.next_frame(timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if frame.event == name:
                frames.append(frame)
        return frames
