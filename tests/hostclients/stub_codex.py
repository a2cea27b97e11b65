#!/usr/bin/env python3
"""A stand-in for the Codex CLI, installed as `codex` on a test host's PATH.

`codex --version` prints `codex-cli <VERSION>`. Any other call records itself (arguments,
whether stdin/stdout are terminals, the auth.json it saw, its environment's names) in
`$HOME/stub-calls.jsonl`, writes a session log shaped like Codex's (FORMATS.md: session_meta,
turn_context, token_count events including a repeated counter), prints the `Token usage:` line
for that session, and exits with `$STUB_EXIT` (default 0).
`STUB_NO_SESSION_LOG=1` writes no session log (as Codex builds that keep none).
`STUB_REFRESH=1` rewrites auth.json as a token refresh would (new tokens, `last_refresh` now).
On a terminal it reads one line from stdin and echoes it, so a test can drive it through a pty.
"""

import json
import os
import sys
import uuid
from datetime import UTC, datetime, timedelta

VERSION = "0.60.0"


def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def main():
    args = sys.argv[1:]
    if args[:1] == ["--version"]:
        print("codex-cli " + VERSION)
        return 0
    home = os.path.expanduser("~")
    codex_home = os.environ.get("CODEX_HOME") or os.path.join(home, ".codex")
    auth_path = os.path.join(codex_home, "auth.json")
    try:
        with open(auth_path, encoding="utf-8") as handle:
            auth = json.load(handle)
    except (OSError, ValueError):
        auth = None
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    call = {
        "args": args,
        "tty": interactive,
        "auth_last_refresh": (auth or {}).get("last_refresh"),
        "env": sorted(os.environ),
        "env_values_with_key": [
            name for name, value in os.environ.items() if value.startswith("hk_")
        ],
    }
    with open(os.path.join(home, "stub-calls.jsonl"), "a", encoding="utf-8") as handle:
        handle.write(json.dumps(call) + "\n")

    if interactive:
        print("stub-tty: yes", flush=True)
        typed = sys.stdin.readline().strip()
        print("stub-got: " + typed, flush=True)

    if os.environ.get("STUB_REFRESH") == "1" and auth is not None:
        now = datetime.now(UTC)
        tag = uuid.uuid4().hex
        auth["tokens"]["access_token"] = "eyJhbGciOiJSUzI1NiJ9.refreshed." + tag
        auth["tokens"]["refresh_token"] = "rt_refreshed_" + tag
        auth["last_refresh"] = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"
        auth.pop("auths", None)  # Codex writes only what it knows
        tmp = auth_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(auth, handle, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, auth_path)

    # One session, two responses; the first counter is written twice (a rate-limit refresh).
    start = datetime.now(UTC)
    session_id = str(uuid.uuid4())
    folder = os.path.join(codex_home, "sessions", start.strftime("%Y/%m/%d"))
    os.makedirs(folder, exist_ok=True)
    name = f"rollout-{start:%Y-%m-%dT%H-%M-%S}-{session_id}.jsonl"
    first = {
        "input_tokens": 18500,
        "cached_input_tokens": 12000,
        "output_tokens": 900,
        "reasoning_output_tokens": 512,
        "total_tokens": 19400,
    }
    second_last = {
        "input_tokens": 3000,
        "cached_input_tokens": 1000,
        "output_tokens": 334,
        "reasoning_output_tokens": 100,
        "total_tokens": 3334,
    }
    total = {key: first[key] + second_last[key] for key in first}
    model = os.environ.get("STUB_MODEL", "gpt-5.1-codex")

    def line(offset, kind, payload):
        return json.dumps(
            {
                "timestamp": stamp(start + timedelta(milliseconds=offset)),
                "type": kind,
                "payload": payload,
            },
            separators=(",", ":"),
        )

    def count(info):
        return {"type": "token_count", "info": info, "rate_limits": None}

    lines = [
        line(
            0,
            "session_meta",
            {
                "id": session_id,
                "timestamp": stamp(start),
                "cwd": os.getcwd(),
                "originator": "codex_cli_rs",
                "cli_version": VERSION,
                "source": "cli",
                "model_provider": "openai",
            },
        ),
        line(10, "turn_context", {"cwd": os.getcwd(), "model": model, "summary": "auto"}),
        line(20, "event_msg", count(None)),
        line(
            30,
            "event_msg",
            count(
                {
                    "total_token_usage": first,
                    "last_token_usage": first,
                    "model_context_window": 272000,
                }
            ),
        ),
        line(
            40,
            "event_msg",
            count(
                {
                    "total_token_usage": first,
                    "last_token_usage": first,
                    "model_context_window": 272000,
                }
            ),
        ),
        line(
            50,
            "event_msg",
            count(
                {
                    "total_token_usage": total,
                    "last_token_usage": second_last,
                    "model_context_window": 272000,
                }
            ),
        ),
    ]
    if os.environ.get("STUB_NO_SESSION_LOG") != "1":
        with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")

    non_cached = total["input_tokens"] - total["cached_input_tokens"]
    output, reasoning = total["output_tokens"], total["reasoning_output_tokens"]
    summary = (
        f"Token usage: total={non_cached + output:,} input={non_cached:,} "
        f"(+ {total['cached_input_tokens']:,} cached) output={output:,} (reasoning {reasoning:,})"
    )
    print("working on: " + " ".join(args), flush=True)
    print("\x1b[1m" + summary + "\x1b[0m", flush=True)
    return int(os.environ.get("STUB_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
