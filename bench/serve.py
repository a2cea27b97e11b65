"""Serving at the framework's floor: tokenfleet against a bare Django app, same server, one run.

Starts, on spare loopback ports and against one PostgreSQL database (DATABASE_URL, migrated and
seeded here: 20,000 usage records, one host with a canonical login for `POST /auth`):

- `bare-wsgi`: a bare Django app (one view, one `SELECT 1`, no middleware, no apps) under
  gunicorn's threaded WSGI worker: the floor;
- `bare-asgi`: the same app under gunicorn + the uvicorn worker;
- `bare-pushpin`: `bare-wsgi` measured through Pushpin, configured as `make run-production`
  configures it (config/pushpin.py): Pushpin's own hop, the ceiling for any app behind it;
- `production`: tokenfleet as `make run-production` starts it (the make target itself: Pushpin on
  its port, gunicorn's threaded WSGI worker behind it, the runner), measured through Pushpin;
- `wsgi-direct`: the same gunicorn, measured without Pushpin in between;
- `make-run`: tokenfleet as `make run` starts it (gunicorn + the uvicorn worker, ASGI);

every one with the same worker count and threads, and drives each with wrk (2 threads, 16
connections, keep-alive): `/health` on all, and on tokenfleet `/api/usage/totals`,
`/api/usage/leaderboard` and `POST /auth` (a retrieve answering `valid`, as bench/auth.py).
Servers run side by side and the measurements alternate over `--rounds`, so drift on a shared
machine hits all of them. Prints req/s and p50/p99 per route and the ratios to the floor, with
the load average, and the production figures as ratios to `bare-pushpin` too; asserts nothing.
Needs wrk, pushpin and Redis (several workers share rate-limit counters through it). Every
upstream URL points at a closed local port.

    createdb -h 127.0.0.1 -U root bench_serve
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_serve REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python bench/serve.py [--seconds 8] [--rounds 2] [--workers 4] [--threads 4]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import ROOT, django_setup, free_port, stop_group

PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
CLOSED = "http://127.0.0.1:9"
RECORDS = 20_000

BARE_APP = '''
"""A bare Django app: one view, one query. Database from BARE_DATABASE_URL."""
import os

import environ
from django.conf import settings

database = environ.Env.db_url_config(os.environ["BARE_DATABASE_URL"])
database["CONN_MAX_AGE"] = int(os.environ.get("BARE_CONN_MAX_AGE", "0"))
if os.environ.get("BARE_POOL") == "true":
    database.setdefault("OPTIONS", {})["pool"] = {"min_size": 1, "max_size": 4, "timeout": 5}
settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-bare-app-secret-key-0123456789abcdef",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    DATABASES={"default": database},
    INSTALLED_APPS=[],
    MIDDLEWARE=[],
    USE_TZ=True,
)

from django.db import connection
from django.http import JsonResponse
from django.urls import path


def health(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return JsonResponse({"ok": True, "database": "ok"})


urlpatterns = [path("health", health)]

from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application

wsgi = get_wsgi_application()
asgi = get_asgi_application()
'''


def seed_usage() -> None:
    from usage.records import NewRecord
    from usage.services.ingest import records_insert

    now = datetime.now(UTC)
    for first in range(0, RECORDS, 1000):
        records_insert(
            records=[
                NewRecord(
                    message_id=f"msg_serve_{number:06d}",
                    source="claude",
                    user=f"user-{number % 12:02d}",
                    machine=f"machine-{number % 40:03d}",
                    model=("claude-sonnet-4-5", "claude-opus-4-5", "gpt-5")[number % 3],
                    ts=now - timedelta(minutes=number % 10_000),
                    input=100 + number % 900,
                    cache_creation=number % 2000,
                    cache_creation_1h=0,
                    cache_read=number % 50_000,
                    output=number % 3000,
                )
                for number in range(first, first + 1000)
            ]
        )


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(  # noqa: S310 (loopback)
            f"http://127.0.0.1:{port}/health", timeout=2
        ) as response:
            return response.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def started(name: str, command: list[str], env: dict[str, str], port: int, logs: Path):
    """A server (its own process group) answering /health on `port`; stopped on exit."""
    log = (logs / f"{name}.log").open("wb")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                sys.exit(f"{name} exited at start; see {logs / f'{name}.log'}")
            if _answers(port):
                break
            if time.monotonic() > deadline:
                sys.exit(f"{name} did not answer /health in 120 s; see its log")
            time.sleep(0.3)
        yield port
    finally:
        stop_group(process, grace=30)
        log.close()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if found is None:
        raise RuntimeError(f"unexpected wrk latency {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def wrk(url: str, *, seconds: int, connections: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    if rate is None or set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(rate.group(1)),
        "p50": _ms(percentiles["50"]),
        "p99": _ms(percentiles["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8, help="each measured wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4, help="per gthread worker")
    parser.add_argument("--skip", default="", help="comma-separated servers not to start")
    args = parser.parse_args()
    for tool in ("wrk", "pushpin"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is needed: apt-get install -y --no-install-recommends {tool}")
    for name in ("CHATGPT_BASE_URL", "CODEX_RELEASES_URL", "PRICING_URL"):
        os.environ[name] = CLOSED
    env = django_setup()
    if not env.get("REDIS_URL"):
        sys.exit("Set REDIS_URL: several workers share rate-limit counters through Redis.")
    # The bench measures serving, not the per-client limits (every wrk connection is one IP).
    from auth import HOST_KEY, LAST_REFRESH, lua_script, seed  # bench/auth.py's /auth set-up

    from usage.models import UsageRecord

    UsageRecord.objects.filter(message_id__startswith="msg_serve_").delete()
    seed_usage()
    digest = seed()
    skip = set(filter(None, args.skip.split(",")))

    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serve-")))
        (scratch / "bareapp.py").write_text(textwrap.dedent(BARE_APP))
        auth_script = lua_script(scratch, digest)
        tf_env = {
            **env,
            "DATA_DIR": str(scratch / "data"),
            "STATIC_ROOT": str(scratch / "static"),
            "CACHE_KEY_PREFIX": f"bench-serve-{os.getpid()}",
            "GRIP_URL": "",
        }
        # Threads keep their connection under WSGI; under ASGI each request has a new thread,
        # so a pool per worker is what production would use there.
        wsgi_db = {"DB_POOL": "false", "DB_CONN_MAX_AGE": "60"}
        # Pools of 4 per worker (a worker serves about 16 / 4 connections at once): with the
        # default 10, the five servers could ask PostgreSQL for more than its 100 connections.
        asgi_db = {"DB_POOL": "true", "DB_CONN_MAX_AGE": "0", "DB_POOL_MAX_SIZE": "4"}
        bare_env = {
            **os.environ,
            "PYTHONPATH": str(scratch),
            "BARE_DATABASE_URL": env["DATABASE_URL"],
        }
        workers = ["--workers", str(args.workers)]
        gthread = ["--worker-class", "gthread", "--threads", str(args.threads)]
        quiet = ["--access-logfile", "/dev/null", "--log-level", "warning"]
        ports: dict[str, int] = {}

        def start(name: str, command: list[str], environment: dict[str, str], port: int) -> None:
            if name in skip:
                return
            print(f"starting {name} ...", flush=True)
            ports[name] = stack.enter_context(started(name, command, environment, port, scratch))

        port = free_port()
        start(
            "bare-wsgi",
            [
                str(GUNICORN),
                *gthread,
                *workers,
                *quiet,
                "--bind",
                f"127.0.0.1:{port}",
                "bareapp:wsgi",
            ],
            {**bare_env, "BARE_CONN_MAX_AGE": "60"},
            port,
        )
        if "bare-wsgi" in ports:
            front = free_port()
            start(
                "bare-pushpin",
                [
                    str(PYTHON),
                    "-m",
                    "config.pushpin",
                    "run",
                    f"--bind=127.0.0.1:{front}",
                    f"--origin=127.0.0.1:{ports['bare-wsgi']}",
                    f"--dir={scratch / 'pushpin-bare'}",
                ],
                {
                    **tf_env,
                    "GRIP_URL": f"http://127.0.0.1:{free_port()}?iss=pushpin&key=bench-bare",
                },
                front,
            )
        port = free_port()
        start(
            "bare-asgi",
            [
                str(GUNICORN),
                "-k",
                "uvicorn_worker.UvicornWorker",
                *workers,
                *quiet,
                "--bind",
                f"127.0.0.1:{port}",
                "bareapp:asgi",
            ],
            {**bare_env, "BARE_POOL": "true"},
            port,
        )
        front, origin = free_port(), free_port()
        production_env = {
            **tf_env,
            **wsgi_db,
            "GRIP_URL": f"http://127.0.0.1:{free_port()}?iss=pushpin&key=bench-{os.urandom(16).hex()}",
            "GUNICORN_CMD_ARGS": "--access-logfile /dev/null",
        }
        start(
            "production",
            [
                "make",
                "--no-print-directory",
                "run-production",
                f"BIND=127.0.0.1:{front}",
                f"APP_BIND=127.0.0.1:{origin}",
                f"WORKERS={args.workers}",
                f"THREADS={args.threads}",
            ],
            production_env,
            front,
        )
        if "production" in ports:
            ports["wsgi-direct"] = origin
        port = free_port()
        start(
            "make-run",
            [
                "make",
                "--no-print-directory",
                "run",
                f"BIND=127.0.0.1:{port}",
                f"WORKERS={args.workers}",
            ],
            {**tf_env, **asgi_db, "GUNICORN_CMD_ARGS": "--access-logfile /dev/null"},
            port,
        )

        # Check what each route answers before measuring it.
        routes = {
            "health": ("/health", None),
            "totals": ("/api/usage/totals", None),
            "leaderboard": ("/api/usage/leaderboard", None),
            "auth": ("/auth", auth_script),
        }
        for name in ("production", "make-run"):
            if name not in ports:
                continue
            request = urllib.request.Request(  # noqa: S310 (loopback)
                f"http://127.0.0.1:{ports[name]}/auth",
                data=json.dumps(
                    {"command": "retrieve", "last_refresh": LAST_REFRESH, "digest": digest}
                ).encode(),
                headers={"Content-Type": "application/json", "X-API-Key": HOST_KEY},
            )
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                assert json.loads(response.read())["data"]["status"] == "valid"

        plan = []
        for name in ports:
            names = ["health"] if name.startswith("bare") else list(routes)
            plan += [(name, route) for route in names]
        print(
            f"bench/serve.py: {args.workers} workers ({args.threads} threads each under gthread), "
            f"wrk -t2 -c{args.connections}, {args.seconds} s x {args.rounds} rounds; "
            f"load before: {load_average()}"
        )
        for name, route in plan:  # warm-up: every worker has imported and connected
            path, script = routes[route]
            wrk(
                f"http://127.0.0.1:{ports[name]}{path}",
                seconds=2,
                connections=args.connections,
                script=script,
            )
        results: dict[tuple[str, str], list[dict]] = {key: [] for key in plan}
        loads = []
        for _round in range(args.rounds):
            for name, route in plan:
                path, script = routes[route]
                results[(name, route)].append(
                    wrk(
                        f"http://127.0.0.1:{ports[name]}{path}",
                        seconds=args.seconds,
                        connections=args.connections,
                        script=script,
                    )
                )
            loads.append(load_average())

    figures = {
        key: {field: sum(run[field] for run in runs) / len(runs) for field in ("rps", "p50", "p99")}
        for key, runs in results.items()
    }
    floor = figures.get(("bare-wsgi", "health"), {}).get("rps")
    print(f"load average after each round: {' | '.join(loads)}")
    print(
        f"{'server':12s} {'route':12s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
        f"{'x floor':>8s}  non-2xx"
    )
    for (name, route), figure in figures.items():
        errors = sum(run["non_2xx"] for run in results[(name, route)])
        ratio = f"{figure['rps'] / floor:.2f}" if floor else "-"
        print(
            f"{name:12s} {route:12s} {figure['rps']:8.0f} {figure['p50']:8.1f} "
            f"{figure['p99']:8.1f} {ratio:>8s}  {errors}"
        )
    if floor and ("production", "health") in figures:
        health = figures[("production", "health")]["rps"] / floor
        totals = figures[("production", "totals")]["rps"] / floor
        print(f"production /health = {health:.2f}x bare WSGI /health (target >= 0.7x)")
        print(f"production /api/usage/totals = {totals:.2f}x bare WSGI /health (target >= 0.5x)")
    ceiling = figures.get(("bare-pushpin", "health"), {}).get("rps")
    if floor and ceiling:
        print(f"bare app through Pushpin = {ceiling / floor:.2f}x bare WSGI /health (the ceiling)")
        for route in ("health", "totals"):
            if ("production", route) in figures:
                ratio = figures[("production", route)]["rps"] / ceiling
                print(f"production {route} = {ratio:.2f}x the bare app through Pushpin")


if __name__ == "__main__":
    main()
