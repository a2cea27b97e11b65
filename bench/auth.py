"""Steady-state `POST /auth` retrieve against `GET /health` on the same server in the same run.

Seeds one host, a canonical login and the values the runner publishes (quota, client version),
starts gunicorn with 4 uvicorn workers (`--wsgi`: 4 threaded WSGI workers with 8 threads each,
as `make run-production` serves behind Pushpin) on PostgreSQL and Redis, and drives both routes
with wrk (16 connections, keep-alive), alternating them twice so drift on a shared machine hits
both.
Every /auth call is a retrieve with the canonical digest (answer `valid`): the steady state of
a fleet of `cdx` runs. Prints requests/s, p50 and p99 of each and the ratios; asserts nothing.
Every upstream URL points at a closed local port: nothing leaves the machine.

    createdb -h 127.0.0.1 -U root bench_auth
    DATABASE_URL=postgres://root@127.0.0.1:5432/bench_auth REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/auth.py [--seconds 10] [--connections 16] [--workers 4] \\
        [--wsgi [--threads 8]]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import describe, django_setup, server

HOST_KEY = "tfh_BenchAuthHostKey0123456789abcdefghijklmnopq"
FQDN = "bench-auth-01"
CLOSED = "http://127.0.0.1:9"
LAST_REFRESH = "2026-11-01T10:00:00.123456789Z"
ACCESS_TOKEN = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJiZW5jaC1hY2Nlc3MifQ.QkVOQ0gtc2lnLTAwMQ"
)


def seed() -> str:
    """The host, the canonical login and the runner's published values; returns the digest."""
    from django.utils import timezone

    from core.hashing import secret_hint, sha256_hex
    from core.time import iso
    from hosts import selectors
    from hosts.fleetauth.authjson import normalise_auth
    from hosts.fleetauth.services import auth_upload
    from hosts.models import CanonicalAuth, ChatGptUsageSnapshot, Host
    from hosts.services import fleet_setting_put

    Host.objects.filter(fqdn=FQDN).delete()
    CanonicalAuth.objects.all().delete()
    ChatGptUsageSnapshot.objects.all().delete()
    Host.objects.create(
        fqdn=FQDN,
        owner="bench",
        api_key_hash=sha256_hex(HOST_KEY),
        api_key_hint=secret_hint(HOST_KEY),
    )
    auth, last_refresh = normalise_auth(
        {
            "OPENAI_API_KEY": None,
            "tokens": {
                "id_token": ACCESS_TOKEN,
                "access_token": ACCESS_TOKEN,
                "refresh_token": "rt_QmVuY2hSZWZyZXNoVG9rZW4tMDAx",
                "account_id": "3f1e5a7c-2b4d-4c6e-8f0a-1b2c3d4e5f60",
            },
            "last_refresh": LAST_REFRESH,
        }
    )
    canonical = auth_upload(auth=auth, last_refresh=last_refresh, actor="bench").canonical
    assert isinstance(canonical, CanonicalAuth)
    now = timezone.now()
    payload = {
        "plan_type": "pro",
        "rate_limit": {
            "allowed": True,
            "limit_reached": False,
            "primary_window": {"used_percent": 12, "limit_window_seconds": 18000, "reset_at": 0},
            "secondary_window": {"used_percent": 3, "limit_window_seconds": 604800, "reset_at": 0},
        },
    }
    fleet_setting_put(
        key=selectors.QUOTA_STATE,
        value={
            "attempt_at": iso(now),
            "attempt_digest": canonical.digest,
            "attempt_ok": True,
            "attempt_error": None,
            "good": {
                "fetched_at": iso(now),
                "digest": canonical.digest,
                "plan_type": "pro",
                "payload": payload,
            },
        },
    )
    fleet_setting_put(
        key=selectors.CLIENT_VERSION_STATE,
        value={
            "version": "0.63.0",
            "checked_at": iso(now),
            "last_error": None,
            "attempt_at": iso(now),
        },
    )
    return canonical.digest


def lua_script(directory: Path, digest: str) -> Path:
    body = json.dumps({"command": "retrieve", "last_refresh": LAST_REFRESH, "digest": digest})
    script = directory / "auth.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-API-Key"] = "{HOST_KEY}"\n'
    )
    return script


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if found is None:
        raise RuntimeError(f"unexpected wrk latency {text!r}")
    number, unit = found.groups()
    return float(number) * _UNITS[unit]


def wrk(url: str, *, seconds: int, connections: int, script: Path | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    rate = float(found.group(1))
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M))
    if set(percentiles) != {"50", "99"}:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": rate,
        "p50": _ms(percentiles["50"]),
        "p99": _ms(percentiles["99"]),
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="each measured wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--wsgi", action="store_true", help="gunicorn's gthread worker on config.wsgi"
    )
    parser.add_argument("--threads", type=int, default=8, help="per worker, with --wsgi")
    args = parser.parse_args()
    threads = args.threads if args.wsgi else None
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install -y --no-install-recommends wrk")
    for name in ("CHATGPT_BASE_URL", "CODEX_RELEASES_URL", "PRICING_URL"):
        os.environ[name] = CLOSED
    env = django_setup()
    if not env.get("REDIS_URL"):
        sys.exit("Set REDIS_URL (several workers share rate limits through Redis).")
    digest = seed()

    with (
        tempfile.TemporaryDirectory() as scratch,
        server(env, workers=args.workers, threads=threads) as base,
    ):
        script = lua_script(Path(scratch), digest)
        host_port = base.removeprefix("http://")
        check = http.client.HTTPConnection(host_port, timeout=10)
        body = json.dumps({"command": "retrieve", "last_refresh": LAST_REFRESH, "digest": digest})
        check.request(
            "POST",
            "/auth",
            body,
            {"Content-Type": "application/json", "X-API-Key": HOST_KEY},
        )
        answer = json.loads(check.getresponse().read())
        data = answer["data"]
        assert data["status"] == "valid", answer
        assert data["chatgpt_usage"]["status"] == "ok", data["chatgpt_usage"]
        print(f"bench/auth.py: {describe(env, args.workers, threads)}, wrk -c{args.connections}")
        wrk(f"{base}/health", seconds=3, connections=args.connections)  # warm-up
        wrk(f"{base}/auth", seconds=3, connections=args.connections, script=script)
        runs: dict[str, list[dict]] = {"health": [], "auth": []}
        for _round in range(2):
            runs["health"].append(
                wrk(f"{base}/health", seconds=args.seconds, connections=args.connections)
            )
            runs["auth"].append(
                wrk(
                    f"{base}/auth",
                    seconds=args.seconds,
                    connections=args.connections,
                    script=script,
                )
            )
    figures = {}
    for name, results in runs.items():
        figures[name] = {
            key: sum(result[key] for result in results) / len(results)
            for key in ("rps", "p50", "p99")
        }
        errors = sum(result["non_2xx"] for result in results)
        each = ", ".join(f"{result['rps']:.0f}" for result in results)
        print(
            f"  {name:7s} {figures[name]['rps']:8.0f} req/s  p50 {figures[name]['p50']:6.1f} ms"
            f"  p99 {figures[name]['p99']:6.1f} ms  non-2xx {errors}"
            f"  (runs: {each} req/s)"
        )
    rate_ratio = figures["auth"]["rps"] / figures["health"]["rps"]
    p99_ratio = figures["auth"]["p99"] / figures["health"]["p99"]
    print(f"  /auth rate = {rate_ratio:.2f}x /health (target >= 0.5x)")
    print(f"  /auth p99 = {p99_ratio:.2f}x /health p99 (target <= 2x)")


if __name__ == "__main__":
    main()
