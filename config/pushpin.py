"""Pushpin in front of tokenfleet: its configuration, generated, and (for `make run-production`)
Pushpin itself, started and stopped with the server.

    python -m config.pushpin url
        The GRIP_URL the app publishes to and verifies Pushpin's signature with: GRIP_URL from the
        environment, else `http://127.0.0.1:5561?iss=pushpin&key=<key>` with a key generated once
        into DATA_DIR/grip_key (mode 0600) and reused.
    python -m config.pushpin write --bind 127.0.0.1:8000 --origin 127.0.0.1:8001 [--dir DIR]
            [--behind-proxy] [--socket PATH]
        Writes DIR/pushpin.conf and DIR/routes (default DIR: DATA_DIR/pushpin); deploy/ runs
        this before Pushpin starts. --socket adds a Unix-socket listener for the proxy in front
        (deploy/: nginx), beside --bind.
    python -m config.pushpin run ... [--parent-pid PID]
        Writes them and runs `pushpin --config DIR/pushpin.conf` until a signal, or until PID is
        no longer its parent (`make run-production` passes the shell that becomes gunicorn).

Debian's own /etc/pushpin/pushpin.conf does not work here: it sends outgoing requests through a
system `zurl` that is not running (every request answers 502), binds every interface when given
a bare port, and its message_rate / message_hwm (2,500/s, 25,000) drop most events at 1,000
subscribers. The generated file has its own run directory holding every IPC socket (zurl's
included, run by Pushpin's runner), binds the address given, and raises both limits; the
signature key and the publish port come from GRIP_URL, so the app and Pushpin always agree.

Per request it also turns off what only costs (bench/serve.py's `bare-pushpin` line is the hop's
own price): the proxy's inspect round trip to the handler (it serves Pushpin's response sharing
and caching, which no route here uses; GRIP holds come back on the origin's response and go to
the handler through `accept`, which stays), the proxy's per-connection stats messages to the
handler (nothing reads them), and, by default, the info log line per request that the runner,
the proxy and zurl each write (gunicorn's access log, and nginx's in deploy/, already have it).
Measured on this 2-core box (CPU per request, wrk -c16 to a bare app): handler 169 -> 2 us,
proxy about 470 -> 380 us; log level 2 costs about another 150-200 us across the runner, zurl
and the proxy.

This module must not import Django settings: it runs before the server and outside it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from config import bootstrap
from config.env import env

DEFAULT_PUBLISH_PORT = 5561
KEY_NAME = "GRIP_KEY"
# Publishes per second Pushpin accepts, and how many it queues beyond that before dropping.
# Coalescing bounds what we send (one totals event per SSE_MIN_INTERVAL_MS per server), but every
# publish counts once per subscriber it reaches: 10,000 streams at 2 events/s are 20,000/s.
MESSAGE_RATE = 200_000
MESSAGE_HWM = 1_000_000
CLIENT_MAXCONN = 50_000
MISSING = (
    "Pushpin is not installed: `make run-production` and deploy/ serve streams through it.\n"
    "Install Debian's package (`apt-get install pushpin`), or use `make run`, which needs no "
    "other service."
)


@dataclass(frozen=True)
class Grip:
    """What the app and Pushpin share: where Pushpin takes publishes, and the signature key."""

    publish_host: str
    publish_port: int
    key: str
    iss: str = "pushpin"

    @property
    def url(self) -> str:
        query = urlencode({"iss": self.iss, "key": self.key})
        return f"http://{self.publish_host}:{self.publish_port}?{query}"


def grip_parse(url: str) -> Grip:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    key = (query.get("key") or [""])[0]
    if parts.scheme != "http" or not parts.hostname or not key:
        raise SystemExit(
            "GRIP_URL must look like http://127.0.0.1:5561?iss=pushpin&key=<secret> "
            "(Pushpin's publish address, and the key it signs requests with)."
        )
    if key.startswith("base64:"):
        raise SystemExit("GRIP_URL: give the key as plain text (Pushpin's sig_key), not base64.")
    return Grip(
        publish_host=parts.hostname,
        publish_port=parts.port or DEFAULT_PUBLISH_PORT,
        key=key,
        iss=(query.get("iss") or ["pushpin"])[0],
    )


def grip_current() -> Grip:
    """GRIP_URL from the environment (or GRIP_URL_FILE), else one with the key kept in DATA_DIR."""
    configured = (env.raw("GRIP_URL") or "").strip()
    if configured:
        return grip_parse(configured)
    folder = bootstrap.data_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key, _generated = bootstrap.ensure_secret(
        KEY_NAME, folder, generator=lambda: secrets.token_urlsafe(32)
    )
    return Grip(publish_host="127.0.0.1", publish_port=DEFAULT_PUBLISH_PORT, key=key)


def _address(value: str, what: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        raise SystemExit(f"{what} must be address:port (e.g. 127.0.0.1:8000), not {value!r}.")
    return host, int(port)


def config_text(
    *,
    bind: str,
    origin: str,
    rundir: Path,
    logdir: Path,
    grip: Grip,
    behind_proxy: bool,
    log_level: int = 1,
    socket: Path | None = None,
) -> str:
    """pushpin.conf. Every socket Pushpin's parts talk over is an IPC file in `rundir`, so
    several instances (tests, a bench beside a running server) never collide."""
    host, port = _address(bind, "--bind")
    _address(origin, "--origin")
    # Directly facing clients, whatever X-Forwarded-For a client sends is dropped and its own
    # address appended; behind nginx, nginx's header is kept and nginx's address appended (an
    # empty entry when nginx came over --socket). Either way the last entry is Pushpin's peer:
    # core.client_ip judges that peer against TRUSTED_PROXIES for a request carrying our
    # Grip-Sig, so Pushpin itself needs no trust and forwards no one's address unchecked.
    forwarded_for = "append" if behind_proxy else "truncate:0,append"
    # Only the proxy in front may open the socket: its directory's permissions say who (deploy/).
    local_ports = f"local_ports={socket}\n" if socket is not None else ""
    ipc = "ipc://{rundir}/{ipc_prefix}"
    return f"""\
# Generated by `python -m config.pushpin`; edit the generator, not this file.
[global]
include={{libdir}}/internal.conf
rundir={rundir}
ipc_prefix=pushpin-
port_offset=0
stats_connection_ttl=120

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port={host}:{port}
{local_ports}logdir={logdir}
log_level={log_level}
client_buffer_size=8192
client_maxconn={CLIENT_MAXCONN}
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=routes
# No inspect round trip to the handler before each request (response sharing: unused here), and
# no per-connection stats to it (unread): both cost on every request.
handler_inspect_spec=
stats_spec=
# zurl runs inside this instance (services above), on sockets in its own run directory.
zurl_out_specs={ipc}zurl-in
zurl_out_stream_specs={ipc}zurl-in-stream
zurl_in_specs={ipc}zurl-out
debug=false
auto_cross_origin=false
accept_x_forwarded_protocol={"true" if behind_proxy else "false"}
set_x_forwarded_protocol=proto-only
x_forwarded_for={forwarded_for}
x_forwarded_for_trusted={forwarded_for}
orig_headers_need_mark=
accept_pushpin_route=false
log_from=false
log_user_agent=false
sig_iss={grip.iss}
sig_key={grip.key}
upstream_key=
updates_check=off

[handler]
push_in_spec={ipc}push-in
push_in_sub_specs={ipc}push-in-sub
push_in_sub_connect=false
push_in_http_addr={grip.publish_host}
push_in_http_port={grip.publish_port}
push_in_http_max_headers_size=10000
push_in_http_max_body_size=1000000
stats_spec={ipc}stats
command_spec={ipc}command
message_rate={MESSAGE_RATE}
message_hwm={MESSAGE_HWM}
message_wait=5000
id_cache_ttl=60
connection_subscription_max=20
subscription_linger=60
stats_subscription_ttl=60
stats_report_interval=10
stats_format=tnetstring
"""


def routes_text(origin: str) -> str:
    host, port = _address(origin, "--origin")
    # Pushpin signs every request it forwards (Grip-Sig with sig_key): that is how the app tells a
    # request that came through Pushpin from one that did not.
    return f"* {host}:{port}\n"


def write(args, grip: Grip) -> Path:
    folder = Path(args.dir).absolute() if args.dir else bootstrap.data_dir() / "pushpin"
    rundir, logdir = folder / "run", folder / "log"
    for path in (folder, rundir, logdir):
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = folder / "pushpin.conf"
    # The file holds the signature key: readable by its owner only.
    descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(
            config_text(
                bind=args.bind,
                origin=args.origin,
                rundir=rundir,
                logdir=logdir,
                grip=grip,
                behind_proxy=args.behind_proxy,
                log_level=args.log_level,
                socket=Path(args.socket).absolute() if args.socket else None,
            )
        )
    (folder / "routes").write_text(routes_text(args.origin), encoding="utf-8")
    return config


def run(args, grip: Grip) -> int:
    """Pushpin in the foreground until SIGINT/SIGTERM or until the parent is gone."""
    binary = shutil.which("pushpin")
    if binary is None:
        print(MISSING, file=sys.stderr)
        return 2
    config = write(args, grip)
    command = [binary, "--config", str(config), "--merge-output"]
    process = subprocess.Popen(command)  # noqa: S603 (our own binary path and arguments)
    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and process.poll() is None:
        if args.parent_pid is not None and os.getppid() != args.parent_pid:
            break
        time.sleep(0.5)
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return 0 if stopping or process.returncode in (0, -signal.SIGTERM) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.pushpin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("url", help="print the GRIP_URL the app and Pushpin share")
    for name in ("write", "run"):
        command = commands.add_parser(name)
        command.add_argument("--bind", required=True, help="where clients connect (addr:port)")
        command.add_argument("--origin", required=True, help="the app server (addr:port)")
        command.add_argument(
            "--dir", default=None, help="for pushpin.conf, routes, run/, log/ (DATA_DIR/pushpin)"
        )
        command.add_argument(
            "--behind-proxy",
            action="store_true",
            help="nginx in front: keep its X-Forwarded-For/-Proto and append to them",
        )
        command.add_argument(
            "--socket",
            default=None,
            help="also listen on this Unix socket (for the proxy in front; deploy/: nginx)",
        )
        command.add_argument(
            "--log-level",
            type=int,
            default=int(os.environ.get("PUSHPIN_LOG_LEVEL") or 1),
            help="1 = warnings, 2 = info (a line per request); default PUSHPIN_LOG_LEVEL or 1",
        )
        if name == "run":
            command.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    grip = grip_current()
    if args.command == "url":
        print(grip.url)
        return 0
    if args.command == "write":
        print(write(args, grip))
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        return run(args, grip)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
