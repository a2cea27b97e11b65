"""Read latency at 1 000 000 records: each /api/usage read against the raw GROUP BY it replaces.

Loads 1 000 000 records (50 users, 200 machines each owned by one user, 10 models, 90 days up to
now; inserted in time order through `records_insert`, so the rollups are the product's own),
runs VACUUM ANALYZE, starts gunicorn with 2 uvicorn workers, then times every read endpoint
over HTTP (one client, keep-alive) and the equivalent query over the raw records table with
psycopg. Prints p50/p95 per endpoint; asserts nothing.

    createdb -h 127.0.0.1 -U root bench_usage
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_usage .venv/bin/python bench/reads.py
    (--reuse keeps an already loaded database; --requests sets the samples per endpoint;
    --only times the endpoints whose label has that text; --wsgi serves as production does,
    gunicorn's threaded WSGI worker, instead of uvicorn workers)
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from _common import describe, django_setup, percentile, psycopg_dsn, server, truncate_usage

USERS = 50
MACHINES = 200
DAYS = 90
# Threads per gthread worker with --wsgi (as bench/floor.py --wsgi).
WSGI_THREADS = 8
MODELS = [
    "claude-opus-4-6",
    "claude-opus-4-5",
    "claude-sonnet-4-6",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "gpt-5.1-codex",
    "gpt-5.1-codex-mini",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5.2-codex",
]
SUMS = (
    "count(*), sum(input), sum(cache_creation), sum(cache_read), sum(output), "
    "sum(tokens_weighted), sum(cost_micros)"
)


def load(total: int, batch: int, now: datetime) -> float:
    """Insert `total` records in time order through the product's insert path."""
    from usage.records import NewRecord
    from usage.services.ingest import records_insert

    rng = random.Random(42)
    span = DAYS * 86400
    offsets = sorted(rng.random() * span for _ in range(total))
    start = now - timedelta(seconds=span)
    started = time.perf_counter()
    for first in range(0, total, batch):
        records = []
        for number in range(first, min(first + batch, total)):
            machine = rng.randrange(MACHINES)
            cache_write = rng.randrange(0, 20_000)
            records.append(
                NewRecord(
                    message_id=f"msg_read_{number:07d}",
                    source="claude",
                    user=f"user-{machine % USERS:02d}",
                    machine=f"machine-{machine:03d}",
                    model=rng.choice(MODELS),
                    ts=start + timedelta(seconds=offsets[number]),
                    input=rng.randrange(0, 5_000),
                    cache_creation=cache_write,
                    cache_creation_1h=cache_write // 4,
                    cache_read=rng.randrange(0, 150_000),
                    output=rng.randrange(0, 4_000),
                )
            )
        records_insert(records=records)
        if (first // batch) % 100 == 99:
            print(f"  loaded {first + batch:,} records", flush=True)
    return time.perf_counter() - started


def endpoints(now: datetime) -> list[tuple[str, str, str, tuple]]:
    """(label, path, raw SQL, SQL params)."""
    now_ms = int(now.timestamp() * 1000)
    day_ms = 86_400_000
    week_ago = now - timedelta(days=7)
    month_ago = now - timedelta(days=30)
    user = "user-07"

    def path(route: str, **params) -> str:
        return f"/api/usage/{route}" + (f"?{urlencode(params)}" if params else "")

    table = "usage_usagerecord"
    return [
        ("totals", path("totals"), f"SELECT {SUMS} FROM {table}", ()),
        (
            "totals, last 30 days",
            path("totals", **{"from": now_ms - 30 * day_ms}),
            f"SELECT {SUMS} FROM {table} WHERE ts >= %s",
            (month_ago,),
        ),
        (
            "totals, one user, last 7 days",
            path("totals", user=user, **{"from": now_ms - 7 * day_ms}),
            f'SELECT {SUMS} FROM {table} WHERE "user" = %s AND ts >= %s',
            (user, week_ago),
        ),
        (
            "timeseries (default: 7 days, 1 h)",
            path("timeseries"),
            f"SELECT date_trunc('hour', ts), {SUMS} FROM {table} WHERE ts >= %s GROUP BY 1",
            (week_ago,),
        ),
        (
            "timeseries 90 days, 1 d",
            path("timeseries", step=day_ms, **{"from": now_ms - 90 * day_ms}),
            f"SELECT date_trunc('day', ts), {SUMS} FROM {table} WHERE ts >= %s GROUP BY 1",
            (now - timedelta(days=90),),
        ),
        (
            "timeseries 30 days, 1 d, tz=Europe/Paris",
            path("timeseries", step=day_ms, tz="Europe/Paris", **{"from": now_ms - 30 * day_ms}),
            f"SELECT date_trunc('day', ts AT TIME ZONE 'Europe/Paris'), {SUMS} FROM {table} "
            "WHERE ts >= %s GROUP BY 1",
            (month_ago,),
        ),
        (
            "timeseries one user (7 days, 1 h)",
            path("timeseries", user=user),
            f"SELECT date_trunc('hour', ts), {SUMS} FROM {table} "
            'WHERE "user" = %s AND ts >= %s GROUP BY 1',
            (user, week_ago),
        ),
        (
            "leaderboard by user",
            path("leaderboard", by="user"),
            f'SELECT "user", {SUMS} FROM {table} GROUP BY 1 ORDER BY 8 DESC, 1 LIMIT 20',
            (),
        ),
        (
            "leaderboard by machine",
            path("leaderboard", by="machine"),
            f"SELECT machine, {SUMS} FROM {table} GROUP BY 1 ORDER BY 8 DESC, 1 LIMIT 20",
            (),
        ),
        (
            "leaderboard by model_family",
            path("leaderboard", by="model_family"),
            f"SELECT model_family, {SUMS} FROM {table} GROUP BY 1 ORDER BY 8 DESC, 1 LIMIT 20",
            (),
        ),
        (
            "leaderboard by user, last 7 days",
            path("leaderboard", by="user", **{"from": now_ms - 7 * day_ms}),
            f'SELECT "user", {SUMS} FROM {table} WHERE ts >= %s '
            "GROUP BY 1 ORDER BY 8 DESC, 1 LIMIT 20",
            (week_ago,),
        ),
        (
            "users/<name>",
            f"/api/usage/users/{user}",
            f'SELECT model_family, machine, {SUMS} FROM {table} WHERE "user" = %s GROUP BY 1, 2',
            (user,),
        ),
        (
            "recent (50)",
            path("recent"),
            f"SELECT * FROM {table} ORDER BY ts DESC, id DESC LIMIT 50",
            (),
        ),
        (
            "recent (50), one machine",
            path("recent", machine="machine-042"),
            f"SELECT * FROM {table} WHERE machine = %s ORDER BY ts DESC, id DESC LIMIT 50",
            ("machine-042",),
        ),
        (
            "breakdown",
            path("breakdown"),
            f'SELECT "user", machine, model, model_family, {SUMS} FROM {table} GROUP BY 1, 2, 3, 4',
            (),
        ),
        (
            "breakdown.csv",
            "/api/usage/breakdown.csv",
            f'SELECT "user", machine, model, model_family, {SUMS} FROM {table} GROUP BY 1, 2, 3, 4',
            (),
        ),
    ]


def time_http(base: str, path: str, samples: int) -> list[float]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    timings = []
    for index in range(samples + 3):  # three unmeasured warm-up requests
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{path} answered {response.status}")
        if index >= 3:
            timings.append(elapsed * 1000)
    connection.close()
    return timings


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def time_sql(dsn: str, sql: str, params: tuple, samples: int) -> list[float]:
    import psycopg

    timings = []
    with psycopg.connect(dsn) as connection:
        connection.execute(sql, params).fetchall()  # warm-up
        for _ in range(samples):
            started = time.perf_counter()
            connection.execute(sql, params).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="HTTP samples per endpoint")
    parser.add_argument("--raw-samples", type=int, default=15, help="raw GROUP BY samples")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="keep already loaded records")
    parser.add_argument("--only", help="time only endpoints whose label contains this text")
    parser.add_argument(
        "--wsgi", action="store_true", help="serve with gthread workers (production's serving)"
    )
    args = parser.parse_args()

    env = django_setup()
    import psycopg
    from django.db import connection

    from usage.models import UsageRecord

    now = datetime.now(UTC).replace(microsecond=0)
    existing = UsageRecord.objects.count()
    if args.reuse and existing == args.records:
        newest = UsageRecord.objects.order_by("-ts").values_list("ts", flat=True).first()
        assert newest is not None
        now = newest.replace(microsecond=0) + timedelta(seconds=1)
        print(f"reusing {existing:,} records up to {newest:%Y-%m-%d %H:%M}")
    else:
        truncate_usage()
        print(f"loading {args.records:,} records …", flush=True)
        elapsed = load(args.records, 1000, now)
        print(f"loaded in {elapsed:.0f} s ({args.records / elapsed:,.0f} records/s in-process)")
    connection.close()
    dsn = psycopg_dsn()
    with psycopg.connect(dsn, autocommit=True) as maintenance:
        maintenance.execute("VACUUM ANALYZE")
        sizes = {
            name: (maintenance.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,))[0]  # noqa: S608
            for name in (
                "usage_usagerecord",
                "usage_usagehourly",
                "usage_usagedaily",
                "usage_usagetotal",
                "usage_usagefamilyhourly",
                "usage_usagefamilydaily",
                "usage_usageuserhourly",
                "usage_usageuserdaily",
                "usage_usagemachinehourly",
                "usage_usagemachinedaily",
            )
        }
    print("rows: " + ", ".join(f"{name.removeprefix('usage_')} {n:,}" for name, n in sizes.items()))

    results = []
    print(f"load average {_load()}")
    threads = WSGI_THREADS if args.wsgi else None
    with server(env, workers=args.workers, threads=threads) as base:
        for label, path, sql, params in endpoints(now):
            if args.only and args.only not in label:
                continue
            # The floor: /health on the same server, timed just before, as many times.
            floor_ms = time_http(base, "/health", args.requests)
            http_ms = time_http(base, path, args.requests)
            raw_ms = time_sql(dsn, sql, params, args.raw_samples)
            results.append((label, path, http_ms, raw_ms))
            p50 = percentile(http_ms, 0.5)
            floor = percentile(floor_ms, 0.5)
            print(
                f"{label:42s} p50 {p50:7.1f} ms  p95 "
                f"{percentile(http_ms, 0.95):7.1f} ms   /health p50 {floor:5.1f} ms"
                f" ({p50 / floor:4.1f}x)   raw GROUP BY p50 "
                f"{percentile(raw_ms, 0.5):7.1f} ms  p95 {percentile(raw_ms, 0.95):7.1f} ms",
                flush=True,
            )
    print(f"load average {_load()}")
    print(
        f"({args.requests} HTTP requests per endpoint, one keep-alive client, "
        f"{describe(env, args.workers, threads)}; {args.raw_samples} raw queries each with "
        "psycopg, no HTTP)"
    )


if __name__ == "__main__":
    main()
