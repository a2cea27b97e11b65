"""The fleet cast: host `build-01`, owned by alice, with a known plaintext key.

Fixture names are shared with other test modules (`host_key`, `host`, `host_client`); keep them.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rest_framework.test import APIClient

from core.hashing import secret_hint, sha256_hex
from hosts.keys import KEY_PREFIX
from hosts.models import Host

BUILD_01_KEY = KEY_PREFIX + "Build01TestKeyAbCdEfGhIjKlMnOpQrStUvWx12"
HOST_FQDN = "build-01"
HOST_OWNER = "alice"
HOST_IP = "127.0.0.1"
# Nothing listens on the discard port: an upstream call that a test did not arrange fails at once.
UNREACHABLE = "http://127.0.0.1:9"

# Shaped like a real Codex login (JWTs, an `rt_` refresh token), never a real credential.
ACCESS_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhdXRoMHx0ZXN0LWFjY2VzcyJ9.QUNDRVNTLXNpZy0x"
)
ID_TOKEN = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJlbWFpbCI6ImFsaWNlQHRlYW0udGVzdCJ9.SUQtc2ln"
REFRESH_TOKEN = "rt_Q2xpZW50UmVmcmVzaFRva2VuLTAwMQ"
ACCOUNT_ID = "7f3a9c1e-0b2d-4e5f-8a6b-1c2d3e4f5a6b"


@pytest.fixture
def host_key() -> str:
    """The plaintext key of `build-01` (the server keeps only its SHA-256)."""
    return BUILD_01_KEY


@pytest.fixture
def host(db, host_key) -> Host:
    """`build-01`, active, owned by alice, not yet bound to an IP, roaming off."""
    return Host.objects.create(
        fqdn=HOST_FQDN,
        owner=HOST_OWNER,
        api_key_hash=sha256_hex(host_key),
        api_key_hint=secret_hint(host_key),
    )


@pytest.fixture
def host_client(host, host_key) -> APIClient:
    """An APIClient that sends `X-API-Key: <host_key>` from 127.0.0.1."""
    client = APIClient(REMOTE_ADDR=HOST_IP)
    client.credentials(HTTP_X_API_KEY=host_key)
    return client


@pytest.fixture(autouse=True)
def _upstreams_unreachable(settings):
    """/auth and /versions call upstreams; no test may reach the internet by accident."""
    settings.CHATGPT_BASE_URL = f"{UNREACHABLE}/backend-api"
    settings.CODEX_RELEASES_URL = f"{UNREACHABLE}/repos/openai/codex/releases/latest"
    settings.PRICING_URL = f"{UNREACHABLE}/prices.json"
    settings.CODEX_OAUTH_TOKEN_URL = f"{UNREACHABLE}/oauth/token"


@dataclass
class FakeUpstream:
    """A real HTTP server in a thread. `route(path, status, body)` sets what `path` answers
    (a list of answers is served in turn, the last one repeating); `requests` records calls."""

    url: str = ""
    routes: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    delay: float = 0.0  # seconds each answer waits (to make concurrent callers overlap)

    def route(self, path: str, status: int = 200, body: Any = None) -> None:
        self.routes[path] = [(status, body)]

    def route_sequence(self, path: str, answers: list[tuple[int, Any]]) -> None:
        self.routes[path] = list(answers)

    def calls(self, path: str) -> list[dict]:
        return [request for request in self.requests if request["path"] == path]


@pytest.fixture
def fake_upstream(settings):
    """Serves GitHub releases, ChatGPT `/wham/usage` and OAuth token endpoint fakes; the
    settings point at it."""
    upstream = FakeUpstream()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server naming)
            self.answer("GET", None)

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            self.answer("POST", self.rfile.read(length))

        def answer(self, method: str, received: bytes | None) -> None:
            path = self.path.split("?", 1)[0]
            upstream.requests.append(
                {
                    "method": method,
                    "path": path,
                    "headers": {k: v for k, v in self.headers.items()},
                    "body": received,
                }
            )
            if upstream.delay:
                time.sleep(upstream.delay)
            answers = upstream.routes.get(path)
            if not answers:
                status, body = 404, {"message": "Not Found"}
            else:
                status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    settings.CHATGPT_BASE_URL = f"{upstream.url}/backend-api"
    settings.CODEX_RELEASES_URL = f"{upstream.url}/repos/openai/codex/releases/latest"
    settings.CODEX_OAUTH_TOKEN_URL = f"{upstream.url}/oauth/token"
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def codex_auth():
    """`codex_auth(last_refresh, **extra)` → an `auth.json` object as `codex login` writes it."""

    def make(
        last_refresh: str = "2026-11-20T10:00:00.123456789Z",
        *,
        access_token: str = ACCESS_TOKEN,
        account_id: str = ACCOUNT_ID,
        api_key: str | None = None,
        **extra: Any,
    ) -> dict:
        auth: dict[str, Any] = {
            "OPENAI_API_KEY": api_key,
            "tokens": {
                "id_token": ID_TOKEN,
                "access_token": access_token,
                "refresh_token": REFRESH_TOKEN,
                "account_id": account_id,
            },
            "last_refresh": last_refresh,
        }
        auth.update(extra)
        return auth

    return make


@pytest.fixture
def run_runner(db):
    """`run_runner(**kwargs)` → one runner cycle in this process, as `manage.py runner --once`."""
    from hosts.runner.engine import ONCE, cycle_run

    def run(**kwargs):
        return cycle_run(trigger=kwargs.pop("trigger", ONCE), **kwargs)

    return run
