"""Zero-setup serving, end to end: the `make run` steps on a fresh SQLite file and nothing else.

Bootstrap the secrets, migrate, collect static files, then gunicorn with the uvicorn worker on a
free port (config/gunicorn.conf.py, exactly as `make run` starts it); poll /health; stop it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from tests.production.served import BIN, DEADLINE_SECONDS, ROOT, free_port, gunicorn


def clean_environment(tmp_path: Path) -> dict[str, str]:
    """Only what `make run` gets on a fresh machine: no secrets, no database or Redis URL."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
        "STATIC_ROOT": str(tmp_path / "static"),
    }


def step(args: list[str], environment: dict[str, str], timeout: float) -> str:
    result = subprocess.run(
        args, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stderr


@pytest.fixture
def served(tmp_path):
    """Runs the `make run` steps; yields (base URL, path of the server's log)."""
    environment = clean_environment(tmp_path)
    python = str(BIN / "python")
    said = step([python, "-m", "config.bootstrap"], environment, timeout=10)
    assert "generated SECRET_KEY" in said and "generated FIELD_ENCRYPTION_KEY" in said
    step([python, "manage.py", "migrate", "--noinput"], environment, timeout=DEADLINE_SECONDS)
    step([python, "manage.py", "collectstatic", "--noinput", "-v", "0"], environment, timeout=15)
    bind = f"127.0.0.1:{free_port()}"
    log_path = tmp_path / "gunicorn.log"
    with gunicorn(environment, [bind], log_path):
        yield f"http://{bind}", log_path


def test_it_serves_health_static_files_and_json_errors_on_sqlite_alone(served, tmp_path):
    base, log_path = served
    health = requests.get(f"{base}/health", timeout=5)
    assert health.json() == {"ok": True, "database": "ok"}
    assert health.headers["X-Request-Id"]
    assert (tmp_path / "data" / "tokenfleet.sqlite3").exists()

    css = requests.get(f"{base}/static/admin/css/base.css", timeout=5)
    assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
    # The manifest storage's hashed copy is served too, cacheable for good.
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())
    hashed = requests.get(f"{base}/static/{manifest['paths']['admin/css/base.css']}", timeout=5)
    assert hashed.status_code == 200 and hashed.headers["Content-Type"].startswith("text/css")
    assert "immutable" in hashed.headers["Cache-Control"]

    missing = requests.get(f"{base}/api/no-such-route", timeout=5)
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found."})

    # The embed-style query token never reaches the access log.
    secret = "we_" + "S" * 43
    assert requests.get(f"{base}/health?token={secret}", timeout=5).status_code == 200
    log_text = log_path.read_text()
    assert "/health?token=[redacted]" in log_text
    assert secret not in log_text


def test_it_reuses_the_kept_secrets_on_the_next_start(tmp_path):
    environment = clean_environment(tmp_path)
    python = str(BIN / "python")
    step([python, "-m", "config.bootstrap"], environment, timeout=10)
    key = (tmp_path / "data" / "secret_key").read_text()
    said = step([python, "-m", "config.bootstrap"], environment, timeout=10)
    assert "using the SECRET_KEY kept in" in said and "generated" not in said
    assert (tmp_path / "data" / "secret_key").read_text() == key
    # A later `manage.py` command (as the README's issue_token) starts with the same secrets.
    shown = subprocess.run(
        [python, "-c", "from django.conf import settings as s; print(s.SECRET_KEY)"],
        cwd=ROOT,
        env={**environment, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert shown.stdout.strip() == key.strip(), shown.stderr


def test_it_refuses_several_workers_without_redis(tmp_path):
    environment = clean_environment(tmp_path)
    step([str(BIN / "python"), "-m", "config.bootstrap"], environment, timeout=10)
    result = subprocess.run(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py"]
        + ["--bind", f"127.0.0.1:{free_port()}", "--workers", "2"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert result.returncode != 0
    assert "WORKERS=2 needs REDIS_URL" in result.stdout + result.stderr
