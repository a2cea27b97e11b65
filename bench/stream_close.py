"""How long other requests wait while many SSE streams close at once.

Starts the server the way `make run` does (gunicorn, `config/gunicorn.conf.py`, the uvicorn
worker), or with `--pushpin` the way `make run-production` does (Pushpin in front of gunicorn's
threaded WSGI worker; streams and probes go through Pushpin), on a spare loopback port against
an SQLite file in a temporary directory (or DATABASE_URL), opens `--streams` anonymous
`/api/usage/stream` connections, then, with a prober in a separate process calling `/health`
every 50 ms, drops every stream at once (RST, as a lost network or a restarted proxy does).
Prints the prober's latency before the drop (the floor) and its worst latency in the 8 s after,
and their ratio. The per-client stream limits are raised for the run (every bench client is one
IP), and the open-files limit to its hard limit. Prints figures; asserts nothing.

    .venv/bin/python bench/stream_close.py --streams 2000
    .venv/bin/python bench/stream_close.py --pushpin --workers 4 --streams 10000 \\
        --redis-url redis://127.0.0.1:6379/2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import free_port, percentile
from sse import ROOT, manage, running_pushpin, running_server, server_environment, wait_healthy

PROBER = r"""
import http.client, json, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
started, samples = time.monotonic(), []
while time.monotonic() - started < seconds:
    t = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/health")
    connection.getresponse().read()
    connection.close()
    samples.append([t, time.monotonic() - t])  # CLOCK_MONOTONIC: the bench's clock too
    time.sleep(0.05)
print(json.dumps(samples))
"""


async def open_stream(port: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /api/usage/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    return writer, int(head.split(b" ", 2)[1])


async def measure(port: int, streams: int, before: float, after: float) -> None:
    opened = []
    started = time.monotonic()
    for first in range(0, streams, 100):
        opened += await asyncio.gather(
            *(open_stream(port) for _ in range(min(100, streams - first)))
        )
    statuses = {status for _writer, status in opened}
    print(f"{len(opened)} streams open in {time.monotonic() - started:.1f}s, statuses {statuses}")
    prober = subprocess.Popen(
        [sys.executable, "-c", PROBER, str(port), str(before + after)],
        stdout=subprocess.PIPE,
        text=True,
    )
    await asyncio.sleep(before)
    dropped_at = time.monotonic()
    for writer, _status in opened:
        writer.transport.abort()
    print(f"dropped {len(opened)} streams in {time.monotonic() - dropped_at:.3f}s")
    output, _ = await asyncio.get_running_loop().run_in_executor(None, prober.communicate)
    samples = json.loads(output)
    if "--samples" in sys.argv:
        print(samples)
    # Calls that ended before the drop are the floor; every call still running at the drop or
    # started after it saw the storm.
    floor = [latency for at, latency in samples if at + latency < dropped_at]
    storm = [latency for at, latency in samples if at + latency >= dropped_at]
    floor_p50 = percentile(floor, 0.5)
    worst = max(storm)
    print(f"/health before the drop: p50 {floor_p50 * 1000:.1f} ms over {len(floor)} calls")
    print(f"/health after the drop: worst {worst * 1000:.0f} ms over {len(storm)} calls")
    print(f"ratio worst/floor: {worst / floor_p50:.0f}x")
    # A call that could not even start (the prober itself starved) shows as a gap between calls.
    starts = [at for at, _latency in samples]
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False) if b >= dropped_at]
    print(f"longest gap between /health calls after the drop: {max(gaps) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--samples", action="store_true", help="print every probe")
    parser.add_argument("--pushpin", action="store_true", help="serve as make run-production")
    parser.add_argument("--threads", type=int, default=4, help="per gthread worker (--pushpin)")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # Pushpin inherits it too
    with tempfile.TemporaryDirectory(prefix="bench-close-") as tmp:
        data_dir = Path(tmp)
        env = server_environment(args, data_dir)
        if not args.redis_url:
            env.pop("REDIS_URL", None)
        print(f"database: {env['DATABASE_URL'].split('@')[-1]}, workers: {args.workers}")
        manage(env, "migrate", "--noinput")
        port = free_port()
        if not args.pushpin:
            with running_server(env, port, args.workers, data_dir / "server.log") as process:
                asyncio.run(wait_healthy(port, process))
                asyncio.run(measure(port, args.streams, before=2.0, after=8.0))
            return
        # Pushpin holds the streams and the prober goes through it, as clients would.
        front = free_port()
        env["GRIP_URL"] = f"http://127.0.0.1:{free_port()}?iss=pushpin&key={'k' * 40}"
        log = data_dir / "server.log"
        with running_server(env, port, args.workers, log, threads=args.threads) as process:
            asyncio.run(wait_healthy(port, process))
            with running_pushpin(env, front, port, data_dir / "pushpin") as pushpin:
                asyncio.run(wait_healthy(front, pushpin))
                asyncio.run(measure(front, args.streams, before=2.0, after=8.0))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
