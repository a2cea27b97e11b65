"""Live-update latency: many SSE subscribers on one server, an ingest every 100 ms.

Two ways of serving, against a database made for the run (DATABASE_URL when it is set,
PostgreSQL recommended; it is migrated and written to; else an SQLite file in a temporary
directory), with Redis:

- default, as `make run` serves: gunicorn with `config/gunicorn.conf.py` and uvicorn workers;
  every stream is held by a worker's event loop (threads per worker are printed: no thread per
  stream);
- `--pushpin`, as `make run-production` serves: Pushpin (its config from `python -m
  config.pushpin write`) in front of gunicorn's threaded WSGI worker with GRIP_URL set;
  subscribers and the ingester go through Pushpin, which holds every stream.

Opens the subscribers (a light asyncio protocol each, so the client is not the bottleneck),
posts one message to `/api/ingest/messages` every 100 ms, and measures, for every subscriber and
every ingest, the time from the ingest's response to the first `totals` event that includes it.
Prints p50/p90/p99/max, events missed, the server's RSS (gunicorn master plus workers) and
Pushpin's (all its processes), from /proc. Raises its own open-files limit to the hard limit.
Traffic stays on 127.0.0.1; everything started is stopped at the end. Asserts nothing.

    REDIS_URL=redis://127.0.0.1:6379/2 .venv/bin/python bench/sse.py --subscribers 2000
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_live REDIS_URL=redis://127.0.0.1:6379/2 \\
        .venv/bin/python bench/sse.py --pushpin --subscribers 10000 --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from _common import BENCH_ENV, free_port, percentile, stop_group

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"


@dataclass
class Subscriber:
    # messages count -> monotonic time its first event arrived
    seen: dict[int, float] = field(default_factory=dict)
    events: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None
    closed: bool = False


# --- Server ----------------------------------------------------------------------------------


def server_environment(args, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in BENCH_ENV.items():
        env.setdefault(key, value)
    env.update(
        {
            "DATA_DIR": str(data_dir),
            "STATIC_ROOT": str(data_dir / "static"),
            "REDIS_URL": args.redis_url,
            "CACHE_KEY_PREFIX": f"bench-sse-{os.getpid()}",
            "RATE_LIMIT_PER_MINUTE": "1000000",
        }
    )
    env.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'bench.sqlite3'}")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(PYTHON), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def process_status(pid: int, field_name: str) -> int:
    """A numeric field of /proc/<pid>/status (VmRSS in KiB, Threads), 0 when gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def server_rss(master: int) -> tuple[int, list[int]]:
    workers = sorted(children(master))
    return process_status(master, "VmRSS"), [process_status(pid, "VmRSS") for pid in workers]


def worker_threads(master: int) -> list[int]:
    return [process_status(pid, "Threads") for pid in sorted(children(master))]


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    found = [pid]
    for child in children(pid):
        found += tree(child)
    return found


def tree_rss(pid: int) -> int:
    return sum(process_status(each, "VmRSS") for each in tree(pid))


@contextlib.contextmanager
def running_server(
    env: dict[str, str], port: int, workers: int, log_path: Path, *, threads: int = 0
):
    """gunicorn as `make run` starts it, or with `threads`, as `make run-production` does."""
    log = log_path.open("wb")
    wsgi = (
        ["--worker-class", "gthread", "--threads", str(threads), "config.wsgi:application"]
        if threads
        else []
    )
    process = subprocess.Popen(
        [
            str(GUNICORN),
            "-c",
            "config/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--access-logfile",
            "/dev/null",
            *wsgi,
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop_group(process)
        log.close()


@contextlib.contextmanager
def running_pushpin(env: dict[str, str], front: int, origin: int, folder: Path):
    """Pushpin on `front` routing to `origin`, configured by config/pushpin.py from GRIP_URL."""
    subprocess.run(
        [
            str(PYTHON),
            "-m",
            "config.pushpin",
            "write",
            "--bind",
            f"127.0.0.1:{front}",
            "--origin",
            f"127.0.0.1:{origin}",
            "--dir",
            str(folder),
            "--log-level",
            "1",
        ],
        cwd=ROOT,
        env=env,
        check=True,
    )
    log = (folder / "pushpin.log").open("wb")
    process = subprocess.Popen(
        ["pushpin", "--config", str(folder / "pushpin.conf"), "--merge-output"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # Ready once its handler takes publishes: a stream held before that answers 500.
    publish_port = int(env["GRIP_URL"].split("?")[0].rsplit(":", 1)[1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            request = urllib.request.Request(  # noqa: S310 (loopback)
                f"http://127.0.0.1:{publish_port}/publish/",
                data=b'{"items": []}',
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    break
        time.sleep(0.1)
    try:
        yield process
    finally:
        stop_group(process, leader=True)
        log.close()


async def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit("the server exited at start; see its log")
        with contextlib.suppress(OSError, ValueError, asyncio.IncompleteReadError):
            status, _body = await http_request(port, "GET", "/health", timeout=2)
            if status == 200:
                return
        await asyncio.sleep(0.2)
    sys.exit(f"the server did not answer /health within {timeout:.0f}s")


# --- HTTP on asyncio streams -----------------------------------------------------------------


async def read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    body = b""
    async for chunk in chunks(reader):
        body += chunk
    return body


async def chunks(reader: asyncio.StreamReader):
    """The chunks of a `Transfer-Encoding: chunked` body, as they arrive."""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return
        data = await reader.readexactly(size + 2)
        yield data[:-2]


async def http_request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    async def exchange():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            request = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            for name, value in (headers or {}).items():
                request += f"{name}: {value}\r\n"
            request += f"Content-Length: {len(body)}\r\n\r\n"
            writer.write(request.encode() + body)
            await writer.drain()
            status, response_headers = await read_head(reader)
            return status, await read_body(reader, response_headers)
        finally:
            writer.close()

    return await asyncio.wait_for(exchange(), timeout)


class Ingester:
    """POSTs one message per call on a keep-alive connection."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_one(self) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        body = json.dumps(
            {
                "machine": "bench-sse",
                "messages": [
                    {
                        "message_id": f"msg_bench_sse_{uuid.uuid4().hex}",
                        "model": "claude-sonnet-4-5",
                        "input_tokens": 100,
                        "cache_read_input_tokens": 1000,
                        "output_tokens": 50,
                        "ts": int(time.time()),
                    }
                ],
            }
        ).encode()
        head = (
            "POST /api/ingest/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        assert self.reader is not None, "connect() first"
        status, headers = await read_head(self.reader)
        payload = await read_body(self.reader, headers)
        if status != 200:
            raise RuntimeError(f"ingest answered {status}: {payload[:200]!r}")
        return json.loads(payload)["applied"]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --- Subscribers ------------------------------------------------------------------------------


MESSAGES = re.compile(rb'"messages":(\d+)')


class StreamProtocol(asyncio.Protocol):
    """One subscriber: notes when each `totals` value first arrived, and nothing else.

    The body is chunked; chunk-size lines never contain `"messages":`, and an event is only
    read once its closing blank line has arrived, so a frame split across reads is not lost."""

    REQUEST = (
        b"GET /api/usage/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
    )

    def __init__(self, subscriber: Subscriber) -> None:
        self.subscriber = subscriber
        self.buffer = b""
        self.head = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        transport.write(self.REQUEST)

    def data_received(self, data: bytes) -> None:
        arrived = time.monotonic()
        buffer = self.buffer + data
        if not self.head:
            if b"\r\n\r\n" not in buffer:
                self.buffer = buffer
                return
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            status = head.split(b" ", 2)[1]
            if status != b"200":
                self.fail(f"stream answered {status.decode()}")
                return
            self.head = True
        end = buffer.rfind(b"\n\n")
        if end < 0:
            self.buffer = buffer
            return
        complete, self.buffer = buffer[: end + 2], buffer[end + 2 :]
        subscriber = self.subscriber
        for found in MESSAGES.finditer(complete):
            subscriber.seen.setdefault(int(found.group(1)), arrived)
            subscriber.events += 1
            subscriber.connected.set()

    def fail(self, error: str) -> None:
        self.subscriber.error = error
        self.subscriber.connected.set()
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc) -> None:
        self.subscriber.closed = True
        self.subscriber.connected.set()


async def run(args) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # Children inherit it: Pushpin's condure holds one descriptor per subscriber too.
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.subscribers * 1.1 + 256 > hard:
        print(f"warning: the open-files limit is {hard}; {args.subscribers} may not all connect")

    with tempfile.TemporaryDirectory(prefix="bench-sse-") as tmp:
        data_dir = Path(tmp)
        env = server_environment(args, data_dir)
        print(f"database: {env['DATABASE_URL'].split('@')[-1]}, redis: {args.redis_url}")
        manage(env, "migrate", "--noinput")
        token = manage(env, "issue_token", "--user", "bench", "--scope", "ingest").split()[-1]
        port = free_port()
        if not args.pushpin:
            with running_server(env, port, args.workers, data_dir / "server.log") as process:
                await wait_healthy(port, process)
                await measure(args, port, token, process.pid, None)
        else:
            front = free_port()
            env["GRIP_URL"] = (
                f"http://127.0.0.1:{free_port()}?iss=pushpin&key={uuid.uuid4().hex * 2}"
            )
            with running_server(
                env, port, args.workers, data_dir / "server.log", threads=args.threads
            ) as process:
                await wait_healthy(port, process)
                with running_pushpin(env, front, port, data_dir / "pushpin") as pushpin:
                    await wait_healthy(front, pushpin)
                    await measure(args, front, token, process.pid, pushpin.pid)
        log_tail = (data_dir / "server.log").read_bytes()[-2000:].decode("utf-8", "replace")
        if args.show_log:
            print(log_tail)


def first_arrivals(seen: dict[int, float]) -> tuple[list[int], list[float]]:
    """Counts in order, and for each the earliest arrival of that count or any later one."""
    counts = sorted(seen)
    earliest = [0.0] * len(counts)
    best = float("inf")
    for index in range(len(counts) - 1, -1, -1):
        best = min(best, seen[counts[index]])
        earliest[index] = best
    return counts, earliest


async def measure(args, port: int, token: str, master: int, pushpin: int | None) -> None:
    loop = asyncio.get_running_loop()
    subscribers = [Subscriber() for _ in range(args.subscribers)]
    transports: list[asyncio.Transport] = []
    gate = asyncio.Semaphore(200)  # connect in waves, not one SYN flood

    async def start(subscriber: Subscriber) -> None:
        async with gate:
            try:
                transport, _protocol = await loop.create_connection(
                    lambda: StreamProtocol(subscriber), "127.0.0.1", port
                )
            except OSError as exc:
                subscriber.error = f"{type(exc).__name__}: {exc}"
                return
            transports.append(transport)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(subscriber.connected.wait(), timeout=60)

    idle_master, idle_workers = server_rss(master)
    idle_pushpin = tree_rss(pushpin) if pushpin else 0
    idle_threads = worker_threads(master)
    connect_started = time.monotonic()
    await asyncio.gather(*(start(s) for s in subscribers))
    connect_seconds = time.monotonic() - connect_started
    failed = [s for s in subscribers if s.error or not s.seen]
    print(
        f"{len(subscribers) - len(failed)} of {len(subscribers)} subscribers got the first "
        f"event in {connect_seconds:.1f}s"
    )
    if failed:
        print("first failures:", {s.error for s in failed[:5]})
    await asyncio.sleep(3)  # Pushpin's recovery requests after it subscribed, the first frames
    base = max(max(s.seen) for s in subscribers if s.seen)
    master_rss, worker_rss = server_rss(master)
    connected_pushpin = tree_rss(pushpin) if pushpin else 0
    threads = worker_threads(master)

    ingester = Ingester(port, token)
    responses: list[tuple[int, float]] = []  # (messages after this ingest, response time)
    expected = base
    ingest_started = time.monotonic()
    next_tick = ingest_started
    while time.monotonic() - ingest_started < args.seconds:
        expected += await ingester.post_one()
        responses.append((expected, time.monotonic()))
        next_tick += args.every
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    ingester.close()
    await asyncio.sleep(args.interval_ms / 1000 * 2 + 3)  # the trailing events
    master_rss_after, worker_rss_after = server_rss(master)
    after_pushpin = tree_rss(pushpin) if pushpin else 0
    closed = sum(1 for s in subscribers if s.closed)
    for transport in transports:
        transport.abort()

    latencies: list[float] = []
    early = missed = 0
    for subscriber in subscribers:
        if not subscriber.seen:
            missed += len(responses)
            continue
        counts, earliest = first_arrivals(subscriber.seen)
        for messages, responded in responses:
            index = bisect.bisect_left(counts, messages)
            if index == len(counts):
                missed += 1
                continue
            delay = earliest[index] - responded
            if delay < 0:
                early += 1  # the event overtook the HTTP response; counts as 0
            latencies.append(max(0.0, delay))
    events = [s.events for s in subscribers]
    serving = (
        f"Pushpin + gunicorn gthread ({args.workers} workers x {args.threads} threads)"
        if pushpin
        else f"gunicorn + {args.workers} uvicorn workers"
    )
    print(
        f"{len(responses)} ingests in {args.seconds:.0f}s (every {args.every * 1000:.0f} ms), "
        f"{serving}, SSE_MIN_INTERVAL_MS={args.interval_ms}; streams closed early: {closed}"
    )
    print(
        f"events per subscriber: min {min(events)}, max {max(events)}; "
        f"{len(latencies)} ingest→event samples, {missed} missed, {early} ahead of the response"
    )
    print(
        "latency ingest response → event: "
        f"p50 {percentile(latencies, 0.50) * 1000:.0f} ms, "
        f"p90 {percentile(latencies, 0.90) * 1000:.0f} ms, "
        f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms"
    )
    print(f"threads per worker: {idle_threads} idle, {threads} with every subscriber connected")
    if pushpin:
        print(
            f"Pushpin RSS (all its processes): {idle_pushpin / 1024:.0f} MiB idle, "
            f"{connected_pushpin / 1024:.0f} MiB connected, {after_pushpin / 1024:.0f} MiB after"
        )
    print(f"load average: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    for label, master_kib, workers_kib in (
        ("idle, before subscribers", idle_master, idle_workers),
        ("connected, before ingest", master_rss, worker_rss),
        ("after the run", master_rss_after, worker_rss_after),
    ):
        total = master_kib + sum(workers_kib)
        print(
            f"server RSS {label}: {total / 1024:.0f} MiB total (master {master_kib / 1024:.0f} "
            f"MiB, workers {', '.join(f'{kib / 1024:.0f}' for kib in workers_kib)} MiB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=0.1, help="seconds between ingests")
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/2")
    )
    parser.add_argument("--show-log", action="store_true", help="print the server log's tail")
    parser.add_argument("--pushpin", action="store_true", help="serve as make run-production")
    parser.add_argument("--threads", type=int, default=4, help="per gthread worker (--pushpin)")
    args = parser.parse_args()
    args.interval_ms = int(os.environ.get("SSE_MIN_INTERVAL_MS", "500"))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
