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
OPTIONS_PROBE = (
    "import json; from config import settings as s; "
    "print(json.dumps(s.DATABASES['default'].get('OPTIONS', {}).get('options')))"
)


def _settings(probe: str = PROBE, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DB_")}
    clean.update(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/unused",
        SECRET_KEY="s" * 50,
        FIELD_ENCRYPTION_KEY="bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s=",
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", probe],
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


def test_it_opens_connections_without_parallel_workers():
    # Startup options: no round trip per read (usage.aggregation.fetch relies on it).
    result = _settings(OPTIONS_PROBE, DB_POOL="true")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == "-c max_parallel_workers_per_gather=0"


def test_it_keeps_startup_options_given_in_database_url():
    url = "postgres://nobody@127.0.0.1:1/unused?options=-c%20statement_timeout%3D5000"
    result = _settings(OPTIONS_PROBE, DATABASE_URL=url)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == (
        "-c statement_timeout=5000 -c max_parallel_workers_per_gather=0"
    )
