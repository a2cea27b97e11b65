"""What each middleware and each request costs: CPU per request, in process, in one run.

For a few routes (`GET /health`, `POST /auth` retrieve, `GET /api/usage/recent` and `/totals`),
the stack the
ASGI handler runs for a request (config/handler.py: Django's sync middleware chain, the view,
the request signals) is timed in this process:

- the whole stack, and the stack with each middleware left out in turn: that middleware's cost is
  the difference;
- no middleware at all: the floor of Django's handler and the view;
- the ASGI application (config.asgi) driven in process: the same plus the event-loop side (body
  reading, thread hop, response sending), still without an HTTP server;
- with `--server` (or `--served-only`): gunicorn with one uvicorn worker (`--wsgi`: one gthread
  WSGI worker with 8 threads, config.wsgi), driven by wrk; the worker's own CPU time per
  request, read from /proc (PostgreSQL, Redis and wrk not counted).

CPU time (not wall time) over many short rounds that alternate the variants, median of rounds:
the machine is shared, and other processes steal wall time far more than they change the CPU a
request needs. Every figure is also printed as a ratio to the floor of the same run, with the
load average at the start and the end. Asserts nothing.

    createdb -h 127.0.0.1 -U root bench_floor
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_floor REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/floor.py [--rounds 15] [--requests 100] [--server] [--wsgi]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import describe, django_setup, server

CLOSED = "http://127.0.0.1:9"


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class Route:
    def __init__(self, name: str, method: str, path: str, headers: dict[str, str], body: bytes):
        self.name = name
        self.method = method
        self.path, _, self.query = path.partition("?")
        self.headers = [(b"host", b"127.0.0.1")]
        self.headers += [(key.lower().encode(), value.encode()) for key, value in headers.items()]
        if body:
            self.headers.append((b"content-length", str(len(body)).encode()))
        self.body = body

    def scope(self) -> dict:
        return {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": self.method,
            "scheme": "http",
            "path": self.path,
            "raw_path": self.path.encode(),
            "query_string": self.query.encode(),
            "root_path": "",
            "headers": self.headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }


def routes() -> list[Route]:
    """Seeds the auth bench's host and login, and a few usage rows; returns the routes."""
    import auth as auth_bench

    digest = auth_bench.seed()
    _seed_usage()
    body = json.dumps(
        {"command": "retrieve", "last_refresh": auth_bench.LAST_REFRESH, "digest": digest}
    ).encode()
    return [
        Route("GET /health", "GET", "/health", {}, b""),
        Route(
            "POST /auth",
            "POST",
            "/auth",
            {"content-type": "application/json", "x-api-key": auth_bench.HOST_KEY},
            body,
        ),
        Route("GET /api/usage/recent", "GET", "/api/usage/recent?limit=50", {}, b""),
        Route("GET /api/usage/totals", "GET", "/api/usage/totals", {}, b""),
    ]


def _seed_usage() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from usage.models import UsageRecord
    from usage.records import NewRecord
    from usage.services.ingest import records_insert

    if UsageRecord.objects.filter(machine="bench-floor").exists():
        return
    now = timezone.now()
    records_insert(
        records=[
            NewRecord(
                message_id=f"bench-floor-{index}",
                source="claude",
                user="bench",
                machine="bench-floor",
                model="claude-sonnet-4-5",
                ts=now - timedelta(minutes=index),
                input=100 + index,
                output=20,
            )
            for index in range(200)
        ]
    )


def sync_stack(middleware: list[str]):
    """Django's handler with this middleware list, as config/handler.py runs it: a callable that
    serves one route (request_started, the stack, the response's close)."""
    from django.core import signals
    from django.core.handlers.asgi import ASGIRequest
    from django.core.handlers.base import BaseHandler
    from django.test import override_settings

    with override_settings(MIDDLEWARE=middleware):
        handler = BaseHandler()
        handler.load_middleware(is_async=False)

    def serve(route: Route) -> int:
        signals.request_started.send(sender=None, scope=None)
        request = ASGIRequest(route.scope(), io.BytesIO(route.body))
        response = handler.get_response(request)
        response.close()
        return response.status_code

    return serve


def asgi_app():
    """The ASGI application in process (no HTTP server): config.asgi as gunicorn loads it."""
    from config.asgi import application

    loop = asyncio.new_event_loop()

    async def one(route: Route) -> int:
        status = 0
        delivered = False

        async def receive():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": route.body, "more_body": False}
            await asyncio.Event().wait()  # the client stays connected

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await application(route.scope(), receive, send)
        return status

    def serve(route: Route) -> int:
        return loop.run_until_complete(one(route))

    return serve


# Left out together: the second needs the first (auth and messages read the session), or they
# work as a pair (django-prometheus's before/after).
_TOGETHER = {
    "django_prometheus.middleware.PrometheusBeforeMiddleware": [
        "core.prometheus.PrometheusAfterMiddleware"
    ],
    "django.contrib.sessions.middleware.SessionMiddleware": [
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
}


def _groups(full: list[str]) -> list[list[str]]:
    groups = []
    for path in full:
        if path == "core.prometheus.PrometheusAfterMiddleware":
            continue  # measured with its before half
        groups.append([path, *(entry for entry in _TOGETHER.get(path, []) if entry in full)])
    return groups


def cpu_per_request(serve: Callable[[Route], int], route: Route, requests: int) -> float:
    started = time.process_time()
    for _ in range(requests):
        serve(route)
    return (time.process_time() - started) / requests * 1000


def in_process(route_list: list[Route], *, rounds: int, requests: int) -> None:
    from django.conf import settings

    full = list(settings.MIDDLEWARE)
    variants: dict[str, Callable[[Route], int]] = {
        "asgi app (in process)": asgi_app(),
        "whole stack": sync_stack(full),
    }
    for group in _groups(full):
        name = " + ".join(path.rsplit(".", 1)[-1].removesuffix("Middleware") for path in group)
        variants[f"  without {name}"] = sync_stack([entry for entry in full if entry not in group])
    variants["no middleware (floor)"] = sync_stack([])

    for route in route_list:
        for serve in variants.values():
            status = serve(route)  # warm-up, and the route must answer
            if status != 200:
                raise RuntimeError(f"{route.name}: {status}")
        for serve in variants.values():
            for _ in range(20):
                serve(route)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        before = load()
        for _round in range(rounds):
            for name, serve in variants.items():
                samples[name].append(cpu_per_request(serve, route, requests))
        medians = {name: statistics.median(values) for name, values in samples.items()}
        floor = medians["no middleware (floor)"]
        whole = medians["whole stack"]
        print(
            f"\n{route.name}: CPU ms per request, median of {rounds} rounds x {requests}"
            f" (load {before} -> {load()})"
        )
        for name, value in medians.items():
            extra = ""
            if name.startswith("  without"):
                extra = f"   cost {whole - value:+.3f} ms"
            print(f"  {name:34s} {value:7.3f} ms  {value / floor:5.2f}x floor{extra}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker_pid(port: int) -> int:
    needle = f"127.0.0.1:{port}".encode()
    masters = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                    masters.append(int(entry))
            except OSError:
                continue
    for master in masters:
        found = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
        children = [int(pid) for pid in found.stdout.split()]
        if children:
            return children[0]
    raise RuntimeError("no gunicorn worker found")


def served(
    env: dict[str, str],
    route_list: list[Route],
    *,
    rounds: int,
    seconds: int,
    threads: int | None = None,
) -> None:
    if shutil.which("wrk") is None:
        sys.exit("--server needs wrk: apt-get install -y --no-install-recommends wrk")
    with (
        tempfile.TemporaryDirectory() as scratch,
        server(env, workers=1, threads=threads) as base,
    ):
        worker = _worker_pid(int(base.rsplit(":", 1)[1]))
        scripts = {}
        for index, route in enumerate(route_list):
            script = Path(scratch) / f"route{index}.lua"
            lines = [f'wrk.method = "{route.method}"']
            if route.body:
                lines.append(f"wrk.body = {json.dumps(route.body.decode())}")
            for key, value in route.headers:
                if key not in (b"host", b"content-length"):
                    lines.append(f'wrk.headers["{key.decode()}"] = "{value.decode()}"')
            script.write_text("\n".join(lines) + "\n")
            scripts[route.name] = script
        samples: dict[str, list[float]] = {route.name: [] for route in route_list}
        rates: dict[str, list[float]] = {route.name: [] for route in route_list}
        before = load()
        for _round in range(rounds):
            for route in route_list:
                url = base + route.path + (f"?{route.query}" if route.query else "")
                command = ["wrk", "-t1", "-c4", f"-d{seconds}s", "-s", str(scripts[route.name])]
                started = _cpu_seconds(worker)
                output = subprocess.run(
                    [*command, url], capture_output=True, text=True, check=True
                ).stdout
                spent = _cpu_seconds(worker) - started
                found = re.search(r"(\d+) requests in", output)
                rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
                if found is None or rate is None or "Non-2xx" in output:
                    raise RuntimeError(f"unexpected wrk output:\n{output}")
                samples[route.name].append(spent / int(found.group(1)) * 1000)
                rates[route.name].append(float(rate.group(1)))
    floor = statistics.median(samples["GET /health"])
    print(
        f"\nserved: {describe(env, 1, threads)}, wrk -c4, worker CPU ms per request, median of"
        f" {rounds} rounds x {seconds} s (load {before} -> {load()})"
    )
    for name, values in samples.items():
        cost = statistics.median(values)
        print(
            f"  {name:34s} {cost:7.3f} ms  {cost / floor:5.2f}x /health"
            f"   ({statistics.median(rates[name]):.0f} req/s at -c4)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=100, help="per variant and round")
    parser.add_argument("--server", action="store_true", help="also under gunicorn + uvicorn")
    parser.add_argument("--seconds", type=int, default=2, help="each wrk run with --server")
    parser.add_argument("--only", help="substring of the route names to measure")
    parser.add_argument("--served-only", action="store_true", help="skip the in-process part")
    parser.add_argument(
        "--wsgi", action="store_true", help="serve with gunicorn's gthread worker (8 threads)"
    )
    args = parser.parse_args()
    for name in ("CHATGPT_BASE_URL", "CODEX_RELEASES_URL", "PRICING_URL"):
        os.environ[name] = CLOSED
    env = django_setup()
    route_list = [route for route in routes() if not args.only or args.only in route.name]
    redis = "Redis" if env.get("REDIS_URL") else "no Redis"
    print(f"bench/floor.py: PostgreSQL, {redis}, DB_POOL={env.get('DB_POOL')}, DEBUG off")
    if not args.served_only:
        in_process(route_list, rounds=args.rounds, requests=args.requests)
    if args.server or args.served_only:
        served(
            env,
            route_list,
            rounds=max(3, args.rounds // 5),
            seconds=args.seconds,
            threads=8 if args.wsgi else None,
        )


if __name__ == "__main__":
    main()
