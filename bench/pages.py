"""Dashboard page time at 1 000 000 records: overview, usage and hosts, beside the JSON reads
each page is built from, and /health as the floor of one request through the same stack.

Loads the records of bench/reads.py (50 users, 200 machines, 10 models, 90 days; skipped with
--reuse when the database already holds them), registers 200 hosts named after the machines,
signs a staff user in (a session cookie), starts gunicorn with 2 uvicorn workers and times each
route over HTTP from one keep-alive client on loopback, so a figure is the server's time plus a
few tenths of a millisecond. Prints p50/p95 per route; asserts nothing; not run in CI.

    createdb -h 127.0.0.1 -U root bench_pages
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_pages .venv/bin/python bench/pages.py
    (--reuse keeps loaded records; --seconds sets the time spent on each route)
"""

from __future__ import annotations

import argparse
import http.client
import os
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from _common import describe, django_setup, percentile, psycopg_dsn, server, truncate_usage
from reads import MACHINES, USERS, load

TARGET_P50_MS = 150.0


def seed_fleet(now: datetime) -> tuple[str, str]:
    """200 hosts (machine-000…199, owned like the records), a staff session and an admin token;
    returns (session cookie, admin token)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.services import token_issue
    from core.hashing import secret_hint, sha256_hex
    from hosts.models import Host

    if Host.objects.count() < MACHINES:
        Host.objects.all().delete()
        Host.objects.bulk_create(
            Host(
                fqdn=f"machine-{number:03d}",
                owner=f"user-{number % USERS:02d}",
                api_key_hash=sha256_hex(f"bench-key-{number}"),
                api_key_hint=secret_hint(f"bench-key-{number}"),
                client_version="0.63.0",
                wrapper_version="2026.11.1",
                bound_ip=f"10.0.{number // 250}.{number % 250 + 1}",
                last_seen_at=now - timedelta(minutes=number),
            )
            for number in range(MACHINES)
        )
    user_model = get_user_model()
    staff = user_model.objects.filter(username="bench-staff").first()
    if staff is None:
        staff = user_model.objects.create_user("bench-staff", password=None, is_staff=True)
    client = Client()
    client.force_login(staff)
    _token, admin = token_issue(user="bench", scope="admin", actor="bench")
    return client.cookies["sessionid"].value, admin


def routes(now: datetime) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Each page with the JSON reads it is built from, over the same ranges the page reads
    (dashboard.selectors: whole UTC days for 7/30/90 d): (label, path, credential kind)."""
    from core.time import epoch_ms
    from dashboard.selectors import overview_window, usage_filter

    def usage(route: str, **params) -> str:
        return f"/api/usage/{route}" + (f"?{urlencode(params)}" if params else "")

    def span(flt) -> dict[str, int]:
        return {"from": epoch_ms(flt.ts_from), "to": epoch_ms(flt.ts_to)}

    day_ms = 86_400_000
    chart_from, chart_to = overview_window(now)
    chart = {"from": epoch_ms(chart_from), "to": epoch_ms(chart_to)}
    top = {"from": epoch_ms(chart_from)}
    week = span(usage_filter(range_key="7d", user=None, machine=None, family=None, now=now))
    one_user = span(
        usage_filter(range_key="90d", user="user-07", machine=None, family=None, now=now)
    )
    month = {"from": epoch_ms(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))}
    return [
        (
            "overview",
            [
                ("page /", "/", "session"),
                ("  /admin/overview (cards, health)", "/admin/overview", "admin"),
                ("  timeseries 30 d, 1 d", usage("timeseries", step=day_ms, **chart), ""),
                ("  leaderboard user, 30 d", usage("leaderboard", by="user", limit=5, **top), ""),
                (
                    "  leaderboard machine, 30 d",
                    usage("leaderboard", by="machine", limit=5, **top),
                    "",
                ),
                (
                    "  leaderboard family, 30 d",
                    usage("leaderboard", by="model_family", limit=5, **top),
                    "",
                ),
                ("  live fragment (after each event)", "/dashboard/live/overview", "session"),
            ],
        ),
        (
            "usage (7 d)",
            [
                ("page /dashboard/usage/", "/dashboard/usage/", "session"),
                ("  timeseries 7 d, 6 h", usage("timeseries", step=6 * 3_600_000, **week), ""),
                ("  breakdown 7 d (table, CSV)", usage("breakdown", **week), ""),
                ("  breakdown.csv 7 d", usage("breakdown.csv", **week), ""),
                ("  recent (25)", usage("recent", limit=25, **week), ""),
            ],
        ),
        (
            "usage (90 d, one user)",
            [
                (
                    "page /dashboard/usage/?range=90d&user=…",
                    "/dashboard/usage/?range=90d&user=user-07",
                    "session",
                ),
                ("  breakdown 90 d, one user", usage("breakdown", user="user-07", **one_user), ""),
            ],
        ),
        (
            "hosts",
            [
                ("page /dashboard/hosts/", "/dashboard/hosts/", "session"),
                ("  /admin/hosts (100 rows)", "/admin/hosts", "admin"),
                (
                    "  leaderboard machine, month",
                    usage("leaderboard", by="machine", limit=100, **month),
                    "",
                ),
            ],
        ),
    ]


def time_route(
    base: str, path: str, headers: dict[str, str], *, seconds: float, max_samples: int
) -> list[float]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    timings: list[float] = []
    deadline = None
    for index in range(max_samples + 3):  # three unmeasured warm-up requests
        started = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
        if index >= 3:
            timings.append(elapsed * 1000)
            deadline = deadline or time.monotonic() + seconds
            if time.monotonic() > deadline and len(timings) >= 10:
                break
    connection.close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=6.0, help="time spent on each route")
    parser.add_argument("--max-samples", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep already loaded records")
    args = parser.parse_args()

    env = django_setup()
    import psycopg
    from django.db import connection

    from usage.models import UsageRecord

    now = datetime.now(UTC).replace(microsecond=0)
    existing = UsageRecord.objects.count()
    if args.reuse and existing == args.records:
        print(f"reusing {existing:,} records")
    else:
        truncate_usage()
        print(f"loading {args.records:,} records …", flush=True)
        elapsed = load(args.records, 1000, now)
        print(f"loaded in {elapsed:.0f} s")
    cookie, admin = seed_fleet(now)
    from django.core.management import call_command

    call_command("collectstatic", "--noinput", verbosity=0)  # pages link hashed static names
    connection.close()
    with psycopg.connect(psycopg_dsn(), autocommit=True) as maintenance:
        maintenance.execute("VACUUM ANALYZE")

    session = {"Cookie": f"sessionid={cookie}"}
    credentials = {"session": session, "admin": {"Authorization": f"Bearer {admin}"}, "": {}}
    print(f"load before the run: {os.getloadavg()[0]:.2f} (1 min)")
    with server(env, workers=args.workers) as base:
        floor = time_route(base, "/health", {}, seconds=args.seconds, max_samples=args.max_samples)
        print(
            f"{'floor: /health':48s} p50 {percentile(floor, 0.5):7.1f} ms  "
            f"p95 {percentile(floor, 0.95):7.1f} ms"
        )
        verdicts = []
        for group, items in routes(now):
            print(f"-- {group}")
            for label, path, kind in items:
                timings = time_route(
                    base,
                    path,
                    credentials[kind],
                    seconds=args.seconds,
                    max_samples=args.max_samples,
                )
                p50 = percentile(timings, 0.5)
                print(
                    f"{label:48s} p50 {p50:7.1f} ms  p95 {percentile(timings, 0.95):7.1f} ms  "
                    f"(n={len(timings)})",
                    flush=True,
                )
                if label.startswith("page"):
                    verdicts.append((label, p50))
    print(f"load after the run: {os.getloadavg()[0]:.2f} (1 min)")
    for label, p50 in verdicts:
        state = "meets" if p50 <= TARGET_P50_MS else "MISSES"
        print(f"{label}: p50 {p50:.1f} ms {state} the {TARGET_P50_MS:.0f} ms target")
    print(f"({describe(env, args.workers)}; one keep-alive client on loopback)")


if __name__ == "__main__":
    main()
