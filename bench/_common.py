"""Shared pieces of the benchmarks: Django set-up against the bench database, a gunicorn server
started and stopped around a run, and percentiles. The benches print figures; they assert nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_BIN = ROOT / ".venv" / "bin"

# Throwaway secrets for the bench server; never used anywhere else.
BENCH_ENV = {
    "SECRET_KEY": "bench-only-secret-key-0123456789abcdef0123456789abcdef",
    "FIELD_ENCRYPTION_KEY": "bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s=",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "LOG_LEVEL": "WARNING",
    # The bench measures throughput, not the per-client limits (every bench client is one IP).
    "RATE_LIMIT_PER_MINUTE": "1000000",
    "ANON_RATE_LIMIT_PER_MINUTE": "1000000",
    "STREAMS_PER_IP": "100000",
    "STREAMS_PER_TOKEN": "100000",
    # A connection pool per worker, as production should run under ASGI (see README, DB_POOL);
    # run with DB_POOL=false to see the cost of a new PostgreSQL backend per request.
    "DB_POOL": "true",
}


def bench_environment() -> dict[str, str]:
    env = dict(os.environ)
    for key, value in BENCH_ENV.items():
        env.setdefault(key, value)
    database_url = env.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL database made for the bench, e.g.\n"
            "  createdb -h 127.0.0.1 -U root bench_usage\n"
            "  DATABASE_URL=postgres://root@127.0.0.1:5432/bench_usage "
            f"{PYTHON_BIN / 'python'} {sys.argv[0]}"
        )
    return env


def describe(env: dict[str, str], workers: int, threads: int | None = None) -> str:
    redis = "Redis" if env.get("REDIS_URL") else "no Redis"
    kind = "uvicorn workers" if threads is None else f"gthread WSGI workers x {threads} threads"
    return f"gunicorn + {workers} {kind}, DB_POOL={env.get('DB_POOL')}, {redis}"


def django_setup() -> dict[str, str]:
    """Configure Django in this process for the bench database; returns the server environment."""
    env = bench_environment()
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def truncate_usage() -> None:
    """Empty the usage tables (records and every rollup level), keeping prices and tokens."""
    from django.db import connection

    from usage.models import UsageRecord
    from usage.rollups import LEVELS

    tables = [UsageRecord._meta.db_table, *(level.model._meta.db_table for level in LEVELS)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")


def psycopg_dsn() -> str:
    from django.db import connection

    settings = connection.settings_dict
    parts = [f"dbname={settings['NAME']}"]
    for key, name in (("HOST", "host"), ("PORT", "port"), ("USER", "user")):
        if settings.get(key):
            parts.append(f"{name}={settings[key]}")
    if settings.get("PASSWORD"):
        parts.append(f"password={settings['PASSWORD']}")
    return " ".join(parts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def server(env: dict[str, str], *, workers: int = 2, threads: int | None = None):
    """gunicorn + uvicorn workers on a spare loopback port; stopped (and waited for) on exit.
    With `threads`: gunicorn's threaded WSGI worker instead (`make run-production`'s, which
    serves behind Pushpin; nothing here streams)."""
    port = free_port()
    if threads is None:
        serving = ["config.asgi:application", "-k", "uvicorn_worker.UvicornWorker"]
    else:
        serving = ["config.wsgi:application", "-k", "gthread", "--threads", str(threads)]
    process = subprocess.Popen(
        [
            str(PYTHON_BIN / "gunicorn"),
            *serving,
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer /health within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen, *, grace: float = 20.0, leader: bool = False) -> None:
    """Stop a server started in a session of its own: SIGTERM to its process group (with
    `leader`, to the leader alone, which stops its own children), SIGKILL to the group after
    `grace` seconds; then wait for it."""
    with contextlib.suppress(ProcessLookupError):
        if leader:
            process.terminate()
        else:
            os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]
