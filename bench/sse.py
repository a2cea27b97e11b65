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
import array
import asyncio
import bisect
import contextlib
import json
import multiprocessing
import os
import re
import resource
import shutil
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
    last_data: float = 0.0  # any bytes, keep-alive comments included: is the stream alive?
    reconnects: int = 0
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
            os.environ.get("PUSHPIN_LOG_LEVEL", "1"),
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
        self.subscriber.last_data = arrived
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
        if self.head and RECONNECT.active is not None:
            RECONNECT.later(self.subscriber)


class Reconnect:
    """As an EventSource does: a stream that ends after it began is opened again after the
    `retry:` the server sent (3 s), and starts with the current totals. On from the first
    ingest; a stream that answered anything but 200 stays failed, as an EventSource's does."""

    def __init__(self) -> None:
        self.active: tuple[int, list] | None = None  # (port, transports) while on
        self.delay = 3.0

    def later(self, subscriber: Subscriber) -> None:
        asyncio.get_running_loop().call_later(
            self.delay, lambda: asyncio.ensure_future(self.reopen(subscriber))
        )

    async def reopen(self, subscriber: Subscriber) -> None:
        if self.active is None:
            return
        port, transports = self.active
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            transport, _protocol = await loop.create_connection(
                lambda: StreamProtocol(subscriber), "127.0.0.1", port
            )
            subscriber.closed = False
            subscriber.reconnects += 1
            transports.append(transport)


RECONNECT = Reconnect()


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
                await measure(args, port, token, process.pid, None, port)
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
                    # deploy/'s nginx sends only the stream routes to Pushpin; the ingest goes to
                    # gunicorn (`make run-production` sends both through Pushpin: the option).
                    ingest = front if args.ingest_through_pushpin else port
                    await measure(args, front, token, process.pid, pushpin.pid, ingest)
        log_tail = (data_dir / "server.log").read_bytes()[-2000:].decode("utf-8", "replace")
        if args.show_log:
            print(log_tail)
        if args.logs:  # the temporary directory goes with the run: keep its logs
            keep = Path(args.logs)
            keep.mkdir(parents=True, exist_ok=True)
            for log in [data_dir / "server.log", *data_dir.glob("pushpin/**/*.log")]:
                shutil.copy(log, keep / log.name)


def first_arrivals(seen: dict[int, float]) -> tuple[list[int], list[float]]:
    """Counts in order, and for each the earliest arrival of that count or any later one."""
    counts = sorted(seen)
    earliest = [0.0] * len(counts)
    best = float("inf")
    for index in range(len(counts) - 1, -1, -1):
        best = min(best, seen[counts[index]])
        earliest[index] = best
    return counts, earliest


# --- Subscriber processes ---------------------------------------------------------------------
#
# Each holds its share of the subscribers on its own event loop, so the client can use every core
# (one Python process reading 20,000 events/s was the bench's own bottleneck). CLOCK_MONOTONIC is
# one clock for every process on the machine, so arrival times compare with the ingest times.


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process from /proc, 0 when gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def cpu_by_name(pids: list[int]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for pid in pids:
        name = process_name(pid)
        totals[name] = totals.get(name, 0.0) + cpu_seconds(pid)
    return totals


async def hold_subscribers(port: int, count: int) -> tuple[list[Subscriber], list, float]:
    loop = asyncio.get_running_loop()
    subscribers = [Subscriber() for _ in range(count)]
    transports: list[asyncio.Transport] = []
    gate = asyncio.Semaphore(100)  # connect in waves, not one SYN flood

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

    started = time.monotonic()
    await asyncio.gather(*(start(s) for s in subscribers))
    return subscribers, transports, time.monotonic() - started


def score(subscribers: list[Subscriber], responses: list[tuple[int, float]]) -> dict:
    """Per subscriber and per ingest, the delay to the first event that includes it."""
    latencies = array.array("d")
    early = missed = 0
    missing_subscribers = 0
    for subscriber in subscribers:
        if not subscriber.seen:
            missed += len(responses)
            missing_subscribers += 1
            continue
        counts, earliest = first_arrivals(subscriber.seen)
        lost_here = 0
        for messages, responded in responses:
            index = bisect.bisect_left(counts, messages)
            if index == len(counts):
                lost_here += 1
                continue
            delay = earliest[index] - responded
            if delay < 0:
                early += 1  # the event overtook the HTTP response; counts as 0
            latencies.append(max(0.0, delay))
        missed += lost_here
        missing_subscribers += bool(lost_here)
    events = [s.events for s in subscribers] or [0]
    return {
        "latencies": latencies.tobytes(),
        "early": early,
        "missed": missed,
        "missing_subscribers": missing_subscribers,
        "events_min": min(events),
        "events_max": max(events),
        "closed": sum(1 for s in subscribers if s.closed),
    }


async def subscriber_main(connection, port: int, count: int) -> None:
    """One client process: connect `count` subscribers, report, wait for the ingests' times,
    score them here (only figures cross the pipe), report again."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue = asyncio.Queue()
    loop.add_reader(connection.fileno(), lambda: inbox.put_nowait(connection.recv()))
    subscribers, transports, seconds = await hold_subscribers(port, count)
    failed = [s for s in subscribers if s.error or not s.seen]
    connection.send(
        {
            "connected": count - len(failed),
            "errors": sorted({s.error or "no first event" for s in failed})[:5],
            "seconds": seconds,
            "base": max((max(s.seen) for s in subscribers if s.seen), default=0),
        }
    )
    message = await inbox.get()  # the ingests start: CPU and events from here
    RECONNECT.active = (port, transports)
    cpu_before = cpu_seconds(os.getpid())
    events_before = sum(s.events for s in subscribers)
    message = await inbox.get()
    cpu = cpu_seconds(os.getpid()) - cpu_before
    window_events = sum(s.events for s in subscribers) - events_before
    # A late event is late, not missed: wait for every subscriber's last one, up to `settle`.
    responses = message["responses"]
    final = responses[-1][0] if responses else 0
    deadline = time.monotonic() + message["settle"]
    while time.monotonic() < deadline and any(
        not s.closed and max(s.seen, default=0) < final for s in subscribers
    ):
        await asyncio.sleep(0.1)
    RECONNECT.active = None
    for transport in transports:
        transport.abort()
    result = score(subscribers, responses)
    result["cpu"] = cpu
    result["window_events"] = window_events
    result["reconnects"] = sum(s.reconnects for s in subscribers)
    # Streams that lost the end: still alive (keep-alives after their last totals) or silent.
    last_ingest = responses[-1][1] if responses else 0.0
    behind = [s for s in subscribers if max(s.seen, default=0) < final]
    result["behind_alive"] = sum(1 for s in behind if s.last_data > last_ingest)
    result["behind_silent"] = len(behind) - result["behind_alive"]
    connection.send(result)


def subscriber_process(connection, port: int, count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(subscriber_main(connection, port, count))


async def measure(
    args, port: int, token: str, master: int, pushpin: int | None, ingest_port: int
) -> None:
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    shares = [
        args.subscribers // args.clients + (index < args.subscribers % args.clients)
        for index in range(args.clients)
    ]
    clients = []
    for share in shares:
        parent_end, child_end = context.Pipe()
        process = context.Process(target=subscriber_process, args=(child_end, port, share))
        clients.append((process, parent_end))

    idle_master, idle_workers = server_rss(master)
    idle_pushpin = tree_rss(pushpin) if pushpin else 0
    idle_threads = worker_threads(master)
    connect_started = time.monotonic()
    for process, _pipe in clients:
        process.start()
    reports = await asyncio.gather(
        *(loop.run_in_executor(None, pipe.recv) for _process, pipe in clients)
    )
    connect_seconds = time.monotonic() - connect_started
    connected = sum(report["connected"] for report in reports)
    print(
        f"{connected} of {args.subscribers} subscribers ({args.clients} client processes) got "
        f"the first event in {connect_seconds:.1f}s"
    )
    errors = {error for report in reports for error in report["errors"]}
    if errors:
        print("first failures:", errors)
    await asyncio.sleep(3)  # Pushpin's recovery requests after it subscribed, the first frames
    base = max(report["base"] for report in reports)
    master_rss, worker_rss = server_rss(master)
    connected_pushpin = tree_rss(pushpin) if pushpin else 0
    threads = worker_threads(master)

    watched = {
        "client processes": [process.pid for process, _pipe in clients if process.pid],
        "server (gunicorn)": tree(master),
        "bench (ingester)": [os.getpid()],
    }
    pushpin_pids = tree(pushpin) if pushpin else []
    cpu_before = {name: sum(map(cpu_seconds, pids)) for name, pids in watched.items()}
    pushpin_before = cpu_by_name(pushpin_pids)
    for _process, pipe in clients:
        pipe.send({"begin": True})
    ingester = Ingester(ingest_port, token)
    responses: list[tuple[int, float]] = []  # (messages after this ingest, response time)
    ingest_seconds: list[float] = []
    expected = base
    ingest_started = time.monotonic()
    next_tick = ingest_started
    while time.monotonic() - ingest_started < args.seconds:
        posted = time.monotonic()
        expected += await ingester.post_one()
        responses.append((expected, time.monotonic()))
        ingest_seconds.append(responses[-1][1] - posted)
        next_tick += args.every
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    ingester.close()
    await asyncio.sleep(args.interval_ms / 1000 * 2 + 3)  # the trailing events
    window = time.monotonic() - ingest_started
    cpu_after = {name: sum(map(cpu_seconds, pids)) for name, pids in watched.items()}
    pushpin_after = cpu_by_name(pushpin_pids)
    master_rss_after, worker_rss_after = server_rss(master)
    after_pushpin = tree_rss(pushpin) if pushpin else 0
    for _process, pipe in clients:
        pipe.send({"responses": responses, "settle": args.settle})
    results = await asyncio.gather(
        *(loop.run_in_executor(None, pipe.recv) for _process, pipe in clients)
    )
    for process, _pipe in clients:
        process.join(10)

    latencies = array.array("d")
    for result in results:
        latencies.frombytes(result["latencies"])
    missed = sum(result["missed"] for result in results)
    serving = (
        f"Pushpin + gunicorn gthread ({args.workers} workers x {args.threads} threads)"
        if pushpin
        else f"gunicorn + {args.workers} uvicorn workers"
    )
    print(
        f"{len(responses)} ingests in {args.seconds:.0f}s (every {args.every * 1000:.0f} ms), "
        f"{serving}, SSE_MIN_INTERVAL_MS={args.interval_ms}; streams closed early: "
        f"{sum(result['closed'] for result in results)}, reopened after `retry:` (as an "
        f"EventSource does): {sum(result['reconnects'] for result in results)}"
    )
    print(
        f"events per subscriber: min {min(r['events_min'] for r in results)}, "
        f"max {max(r['events_max'] for r in results)}; {len(latencies)} ingest→event samples, "
        f"{missed} missed (by {sum(r['missing_subscribers'] for r in results)} subscribers), "
        f"{sum(r['early'] for r in results)} ahead of the response"
    )
    print(
        f"without the final totals {args.settle:.0f}s after the last ingest: "
        f"{sum(r['behind_alive'] for r in results)} streams alive (data after the last ingest), "
        f"{sum(r['behind_silent'] for r in results)} silent"
    )
    took = sorted(ingest_seconds)
    print(
        f"ingest POST ({'through Pushpin' if pushpin and ingest_port == port else 'to gunicorn'}): "
        f"p50 {percentile(took, 0.5) * 1000:.0f} ms, p99 {percentile(took, 0.99) * 1000:.0f} ms"
    )
    ordered = sorted(latencies)
    print(
        "latency ingest response → event: "
        f"p50 {percentile(ordered, 0.50) * 1000:.0f} ms, "
        f"p90 {percentile(ordered, 0.90) * 1000:.0f} ms, "
        f"p99 {percentile(ordered, 0.99) * 1000:.0f} ms, "
        f"max {ordered[-1] * 1000:.0f} ms"
    )
    # CPU over the ingest window (incl. the trailing wait), in % of one core: who is busy.
    usage = {name: cpu_after[name] - cpu_before[name] for name in watched}
    usage["client processes"] = sum(result["cpu"] for result in results)
    for name, seconds in pushpin_after.items():
        usage[f"pushpin {name}"] = seconds - pushpin_before.get(name, 0.0)
    print(
        f"CPU over the {window:.0f}s window (% of one core; the box has {os.cpu_count()}): "
        + ", ".join(f"{name} {seconds / window * 100:.0f}%" for name, seconds in usage.items())
    )
    # Per event delivered to a subscriber: what the fan-out costs whatever else the box runs.
    delivered = sum(result["window_events"] for result in results)
    print(
        f"{delivered} events delivered ({delivered / window:.0f}/s); CPU per event: "
        + ", ".join(
            f"{name} {seconds / max(1, delivered) * 1e6:.0f} us"
            for name, seconds in usage.items()
            if seconds / window >= 0.02
        )
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
    parser.add_argument("--logs", default="", help="copy the server's and Pushpin's logs here")
    parser.add_argument("--pushpin", action="store_true", help="serve as make run-production")
    parser.add_argument("--threads", type=int, default=4, help="per gthread worker (--pushpin)")
    parser.add_argument(
        "--clients", type=int, default=2, help="subscriber processes (each its own event loop)"
    )
    parser.add_argument(
        "--ingest-through-pushpin",
        action="store_true",
        help="--pushpin: POST the ingests through Pushpin too (make run-production's path)",
    )
    parser.add_argument(
        "--settle", type=float, default=30.0, help="seconds to wait for late final events"
    )
    args = parser.parse_args()
    args.interval_ms = int(os.environ.get("SSE_MIN_INTERVAL_MS", "500"))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
