"""Host clients end to end: a live tokenfleet server, fake upstreams, throwaway hosts.

`fleet` is one server process (uvicorn, as tests/live starts them) with a database of its own,
shared by this package's tests (each uses its own hosts and file names); upstreams (GitHub
releases, ChatGPT quota, the Codex release asset) are a local HTTP server. `make_host(fqdn)`
registers a host through the admin API, runs the real installer (`curl … | bash`) in a fresh
HOME with a stub `codex` on PATH, and returns a handle that runs `cdx` and `tokenfleet-collect`
there.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.live.server import (
    LiveServer,
    _postgres_admin_connect,
    free_port,
    issue_token,
    run_manage,
    server_env,
)

HERE = Path(__file__).resolve().parent
STUB_CODEX = HERE / "stub_codex.py"
NEW_CODEX_VERSION = "0.63.0"
# Tools a developer's machine has; hosts see only these (plus their own bin directories), so a
# test decides whether systemctl or crontab exist.
TOOLS = [
    "bash",
    "sh",
    "env",
    "python3",
    "curl",
    "mktemp",
    "tr",
    "awk",
    "chmod",
    "mv",
    "dirname",
    "mkdir",
    "rm",
    "cat",
    "grep",
    "tee",
    "script",
    "sleep",
    "ls",
    "cp",
    "head",
    "tail",
    "sed",
    "date",
    "id",
    "basename",
    "readlink",
    "uname",
]

# For the test modules: the installer needs curl, interactive cdx runs need `script`.
needs_host_tools = pytest.mark.skipif(
    shutil.which("curl") is None or shutil.which("script") is None,
    reason="curl and script (util-linux) are not installed; .ci/run installs them",
)


# --- fake upstreams -------------------------------------------------------------------------


@dataclass
class Upstream:
    url: str = ""
    routes: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)

    def json(self, path: str, body: Any, status: int = 200) -> None:
        self.routes[path] = (status, json.dumps(body).encode(), "application/json")

    def raw(self, path: str, body: bytes, status: int = 200) -> None:
        self.routes[path] = (status, body, "application/octet-stream")


def stub_codex_source(version: str) -> str:
    return STUB_CODEX.read_text().replace('VERSION = "0.60.0"', f'VERSION = "{version}"', 1)


def codex_release_asset(version: str) -> bytes:
    """A .tar.gz holding one executable, as openai/codex releases ship for each platform."""
    data = stub_codex_source(version).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("codex-x86_64-unknown-linux-musl")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@contextlib.contextmanager
def upstream_server():
    upstream = Upstream()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            path = self.path.split("?", 1)[0]
            upstream.hits.append(path)
            status, body, kind = upstream.routes.get(path, (404, b'{"message":"Not Found"}', ""))
            self.send_response(status)
            self.send_header("Content-Type", kind or "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            upstream.bodies.append(json.loads(self.rfile.read(length) or b"null"))
            self.do_GET()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()


# --- the server -----------------------------------------------------------------------------


@contextlib.contextmanager
def clients_database(tmp: Path):
    """A database of this package's own (never the one tests/live shares)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        yield f"sqlite:///{tmp / 'fleet.sqlite3'}"
        return
    name = f"{os.environ.get('TEST_DB_NAME') or 'test_live'}_hostclients"
    with _postgres_admin_connect(url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with _postgres_admin_connect(url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Fleet:
    server: LiveServer
    env: dict[str, str]
    admin_token: str
    upstream: Upstream
    tmp: Path

    @property
    def url(self) -> str:
        return self.server.base_url

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        return self.server.json(
            method, path, body=body, headers={"Authorization": f"Bearer {self.admin_token}"}
        )["data"]

    def register(self, fqdn: str, owner: str = "alice") -> dict:
        return self.admin("POST", "/admin/hosts/register", {"fqdn": fqdn, "owner": owner})

    def host_request(self, key: str, method: str, path: str, body: dict | None = None):
        return self.server.request(method, path, body=body, headers={"X-API-Key": key})

    def recent(self, machine: str) -> list[dict]:
        status, _headers, data = self.server.request(
            "GET", f"/api/usage/recent?machine={machine}&limit=500"
        )
        assert status == 200, data
        return json.loads(data)["entries"]

    def shell(self, code: str) -> str:
        """Run Python in a `manage.py shell` against the server's database."""
        return run_manage(self.env, "shell", "-c", code, timeout=60)

    def seed_login(self) -> None:
        """A canonical login three hours old, stored by a host of its own, so every test finds
        one (tests that bring a newer login make theirs canonical)."""
        key = self.register("seed.e2e.test")["host"]["api_key"]
        status, _headers, data = self.host_request(
            key, "POST", "/auth", {"command": "store", "auth": login(now() - timedelta(hours=3))}
        )
        assert status == 200, data


def now() -> datetime:
    return datetime.now(UTC)


def login(last_refresh: datetime, tag: str = "Seed00001") -> dict:
    """An auth.json as `codex login` writes it (shapes only; never a real credential)."""
    return {
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": "eyJhbGciOiJSUzI1NiJ9.eyJlbWFpbCI6ImFAYi5jIn0.idsig" + tag,
            "access_token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.access" + tag,
            "refresh_token": "rt_Q2xpZW50UmVmcmVzaFRva2Vu" + tag,
            "account_id": "7f3a9c1e-0b2d-4e5f-8a6b-1c2d3e4f5a6b",
        },
        "last_refresh": last_refresh.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z",
    }


@pytest.fixture(scope="session")
def fleet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet")
    with upstream_server() as upstream, clients_database(tmp) as database_url:
        upstream.json("/repos/openai/codex/releases/latest", {"tag_name": "rust-v0.60.0"})
        upstream.json(
            "/backend-api/wham/usage",
            {
                "plan_type": "pro",
                "rate_limit": {
                    "allowed": True,
                    "limit_reached": False,
                    "primary_window": {
                        "used_percent": 42,
                        "limit_window_seconds": 18000,
                        "reset_after_seconds": 3600,
                    },
                    "secondary_window": {
                        "used_percent": 17,
                        "limit_window_seconds": 604800,
                        "reset_after_seconds": 86400,
                    },
                },
            },
        )
        upstream.raw(
            f"/download/rust-v{NEW_CODEX_VERSION}/codex-x86_64-unknown-linux-musl.tar.gz",
            codex_release_asset(NEW_CODEX_VERSION),
        )
        port = free_port()
        env = server_env(
            tmp,
            database_url,
            PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
            CODEX_RELEASES_URL=f"{upstream.url}/repos/openai/codex/releases/latest",
            CHATGPT_BASE_URL=f"{upstream.url}/backend-api",
            CODEX_ASSET_URL=f"{upstream.url}/download/rust-v{{version}}/codex-{{target}}.tar.gz",
            PRICING_URL=f"{upstream.url}/prices.json",
            RATE_LIMIT_PER_MINUTE="1000",
        )
        run_manage(env, "migrate", "--noinput")
        token = issue_token(env, user="root", scope="admin")
        server = LiveServer(env=env, log_path=tmp / "server.log", port=port).start()
        try:
            fleet = Fleet(server=server, env=env, admin_token=token, upstream=upstream, tmp=tmp)
            fleet.seed_login()
            # The runner stores the quota and the client version; /auth only reads them.
            run_manage(env, "runner", "--once")
            yield fleet
        finally:
            server.stop()


# --- hosts ----------------------------------------------------------------------------------


@dataclass
class HostMachine:
    fleet: Fleet
    fqdn: str
    home: Path
    bin: Path  # CDX_INSTALL_DIR
    stubs: Path  # codex (and systemctl/crontab when a test wants them)
    tools: Path
    api_key: str = ""
    install_output: str = ""

    @property
    def cdx(self) -> Path:
        return self.bin / "cdx"

    @property
    def codex_home(self) -> Path:
        return self.home / ".codex"

    @property
    def auth_path(self) -> Path:
        return self.codex_home / "auth.json"

    @property
    def state(self) -> Path:
        return self.home / ".local" / "state" / "tokenfleet"

    @property
    def host_env(self) -> Path:
        return self.home / ".config" / "tokenfleet" / "host.env"

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "HOME": str(self.home),
            "PATH": f"{self.bin}:{self.stubs}:{self.tools}",
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.home / "tmp"),
            "CDX_NO_CODEX_UPDATE": "1",
            "TOKENFLEET_SETTLE_SECONDS": "0",
        }
        env.update(extra)
        return {key: value for key, value in env.items() if value is not None}

    def install(self, installer_url: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["bash", "-c", 'curl -fsSL "$1" | bash', "-", installer_url],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.install_output = result.stdout + result.stderr
        return result

    def cdx_run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.cdx), *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
        )

    def collect(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / "tokenfleet-collect"), "--once", *args],
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.home,
        )

    def calls(self) -> list[dict]:
        path = self.home / "stub-calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def auth(self) -> dict:
        return json.loads(self.auth_path.read_text())

    def write_auth(self, auth: dict) -> None:
        self.codex_home.mkdir(parents=True, exist_ok=True)
        self.auth_path.write_text(json.dumps(auth, indent=2))
        self.auth_path.chmod(0o600)

    def install_stub_codex(self, version: str = "0.60.0") -> Path:
        path = self.stubs / "codex"
        path.write_text(stub_codex_source(version))
        path.chmod(0o755)
        return path


def tool_dir(root: Path) -> Path:
    tools = root / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    for name in TOOLS:
        found = shutil.which(name)
        if found and not (tools / name).exists():
            (tools / name).symlink_to(found)
    # The stub codex and the collector run with the system python3 (not the test venv's).
    if not (tools / "python3").exists():
        (tools / "python3").symlink_to(sys.executable)
    return tools


@pytest.fixture
def make_host(fleet, tmp_path):
    """`make_host(fqdn, install=True)` → a HostMachine with cdx installed by the installer."""
    tools = tool_dir(tmp_path)

    def make(fqdn: str, *, install: bool = True, owner: str = "alice") -> HostMachine:
        root = tmp_path / fqdn
        home = root / "home"
        (home / "tmp").mkdir(parents=True)
        host = HostMachine(
            fleet=fleet,
            fqdn=fqdn,
            home=home,
            bin=home / ".local" / "bin",
            stubs=root / "stubs",
            tools=tools,
        )
        host.stubs.mkdir()
        host.install_stub_codex()
        if install:
            registration = fleet.register(fqdn, owner=owner)
            host.api_key = registration["host"]["api_key"]
            result = host.install(registration["installer"]["url"])
            assert result.returncode == 0, host.install_output
        return host

    return make
