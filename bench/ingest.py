"""Ingest throughput: HTTP ingest into PostgreSQL against straight psycopg inserts.

100 000 messages in batches of 1000 from 4 concurrent clients to `POST /api/ingest/messages` on
a gunicorn server with 2 uvicorn workers; then the same rows inserted by 4 psycopg connections
(`executemany` of `INSERT … ON CONFLICT (message_id) DO NOTHING`, one transaction per batch, no
pricing or rollups) for the ratio. Prints the figures; asserts nothing.

    createdb -h 127.0.0.1 -U root bench_usage
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_usage .venv/bin/python bench/ingest.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta

from _common import describe, django_setup, psycopg_dsn, server, truncate_usage

MODELS = [
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "gpt-5.1-codex",
    "gpt-5.1-codex-mini",
]


def make_batches(
    total: int, batch_size: int, clients: int, *, seed: int = 7, window_hours: float = 4
) -> list[tuple]:
    """(client, machine, messages) batches; each client posts for its own machines.

    A batch is what a collector sends when it catches up on a transcript: messages of one
    machine over a `window_hours` stretch somewhere in the last 30 days, models mixed.
    """
    rng = random.Random(seed)
    now = datetime.now(UTC)
    batches = []
    for number in range(total // batch_size):
        client = number % clients
        machine = f"host-{client}-{number % 5}"
        window_end = now - timedelta(seconds=rng.randrange(0, 30 * 86400))
        messages = []
        for index in range(batch_size):
            cache_write = rng.randrange(0, 20_000)
            ts = window_end - timedelta(seconds=rng.random() * window_hours * 3600)
            messages.append(
                {
                    "message_id": f"msg_bench_{number:04d}_{index:04d}_{rng.getrandbits(40):010x}",
                    "model": rng.choice(MODELS),
                    "input_tokens": rng.randrange(0, 5_000),
                    "cache_creation_input_tokens": cache_write,
                    "cache_creation_1h_input_tokens": cache_write // 4,
                    "cache_read_input_tokens": rng.randrange(0, 150_000),
                    "output_tokens": rng.randrange(0, 4_000),
                    "request_id": f"req_{rng.getrandbits(48):012x}",
                    "ts": int(ts.timestamp() * 1000),
                }
            )
        batches.append((client, machine, messages))
    return batches


def run_http(base: str, tokens: list[str], batches: list[tuple]) -> tuple[float, int]:
    """Each client posts its share of the batches on one keep-alive connection."""
    host, port = base.removeprefix("http://").split(":")
    shares = [batches[index :: len(tokens)] for index in range(len(tokens))]
    bodies = [
        [
            json.dumps({"machine": machine, "messages": messages}).encode()
            for _c, machine, messages in share
        ]
        for share in shares
    ]
    applied = [0] * len(tokens)
    failures: list[str] = []

    def client(number: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        headers = {"Authorization": f"Bearer {tokens[number]}", "Content-Type": "application/json"}
        for body in bodies[number]:
            connection.request("POST", "/api/ingest/messages", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                failures.append(f"{response.status} {payload[:200]!r}")
                continue
            applied[number] += json.loads(payload)["applied"]
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(len(tokens))]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        print(f"  {len(failures)} failed requests, first: {failures[0]}")
    return elapsed, sum(applied)


def run_psycopg(rows_by_batch: list[list[tuple]], columns: tuple[str, ...], clients: int):
    import psycopg

    dsn = psycopg_dsn()
    quoted = ", ".join(f'"{name}"' for name in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    sql = (
        f"INSERT INTO usage_usagerecord ({quoted}) VALUES ({placeholders}) "
        'ON CONFLICT ("message_id") DO NOTHING'
    )
    shares = [rows_by_batch[index::clients] for index in range(clients)]

    def client(share: list[list[tuple]]) -> None:
        with psycopg.connect(dsn) as connection:
            for rows in share:
                with connection.transaction(), connection.cursor() as cursor:
                    cursor.executemany(sql, rows)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--window-hours",
        type=float,
        default=4,
        help="time span of one batch (default 4; 720 spreads every batch over 30 days)",
    )
    args = parser.parse_args()

    env = django_setup()
    from accounts.services import token_issue
    from usage.models import UsageRecord
    from usage.pricing import PriceBook, cost_micros, family_of, tokens_weighted
    from usage.services.ingest import RECORD_COLUMNS

    truncate_usage()
    tokens = [
        token_issue(user=f"bench-{index}", scope="ingest", label="bench")[1]
        for index in range(args.clients)
    ]
    batches = make_batches(args.messages, args.batch, args.clients, window_hours=args.window_hours)
    warmup = make_batches(args.clients * 10, 10, args.clients, seed=1)

    with server(env, workers=args.workers) as base:
        run_http(base, tokens, warmup)  # imports, connections and caches warm in every worker
        truncate_usage()
        elapsed, applied = run_http(base, tokens, batches)
    stored = UsageRecord.objects.count()
    http_rate = args.messages / elapsed
    print(
        f"HTTP ingest: {args.messages} messages in {elapsed:.2f} s = {http_rate:,.0f} messages/s "
        f"({args.clients} clients, batches of {args.batch} over {args.window_hours:g} h, "
        f"{describe(env, args.workers)}; "
        f"applied {applied}, stored {stored})"
    )

    # The same rows, priced beforehand, straight into the table.
    book = PriceBook.load()
    now = datetime.now(UTC)
    rows_by_batch = []
    for client, machine, messages in batches:
        rows = []
        for item in messages:
            ts = datetime.fromtimestamp(item["ts"] / 1000, tz=UTC)
            price = book.lookup(item["model"], ts)
            counts = {
                "input": item["input_tokens"],
                "cache_creation": item["cache_creation_input_tokens"],
                "cache_read": item["cache_read_input_tokens"],
                "output": item["output_tokens"],
            }
            rows.append(
                (
                    item["message_id"],
                    "claude",
                    f"bench-{client}",
                    machine,
                    item["model"],
                    family_of(price),
                    counts["input"],
                    counts["cache_creation"],
                    item["cache_creation_1h_input_tokens"],
                    counts["cache_read"],
                    counts["output"],
                    0,
                    tokens_weighted(**counts),
                    cost_micros(
                        price, cache_creation_1h=item["cache_creation_1h_input_tokens"], **counts
                    ),
                    ts,
                    now,
                    item["request_id"],
                    None,
                    None,
                )
            )
        rows_by_batch.append(rows)
    truncate_usage()
    raw_elapsed = run_psycopg(rows_by_batch, RECORD_COLUMNS, args.clients)
    raw_rate = args.messages / raw_elapsed
    print(
        f"psycopg direct: {args.messages} rows in {raw_elapsed:.2f} s = {raw_rate:,.0f} rows/s "
        f"({args.clients} connections, executemany of INSERT … ON CONFLICT DO NOTHING, "
        f"one transaction per {args.batch})"
    )
    print(f"ratio: HTTP ingest is {100 * http_rate / raw_rate:.1f} % of the psycopg rate")
    truncate_usage()


if __name__ == "__main__":
    main()
