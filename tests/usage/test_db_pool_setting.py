"""DB_POOL: the PostgreSQL connection pool reads under ASGI need (config/settings.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PROBE = (
    "import json; from config import settings as s; "
    "print(json.dumps(s.DATABASES['default'].get('OPTIONS', {}).get('pool')))"
)


def _settings(**env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DB_")}
    clean.update(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/unused",
        SECRET_KEY="s" * 50,
        FIELD_ENCRYPTION_KEY="bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s=",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_pools_postgresql_connections_when_asked():
    result = _settings(DB_POOL="true", DB_POOL_MAX_SIZE="4")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"min_size": 1, "max_size": 4, "timeout": 5}


def test_it_opens_a_connection_per_request_by_default():
    result = _settings()

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is None


def test_it_refuses_a_pool_with_persistent_connections():
    result = _settings(DB_POOL="true", DB_CONN_MAX_AGE="60")

    assert result.returncode != 0
    assert "DB_POOL needs DB_CONN_MAX_AGE=0" in result.stderr
