#!/usr/bin/env python3
"""tokenfleet-collect: send this machine's Claude Code and Codex usage to tokenfleet.

One file, Python >= 3.9 standard library only; the tokenfleet installer puts it on the host as
`tokenfleet-collect` and runs `tokenfleet-collect --once` from a timer. It reads:

- Claude Code transcripts (`~/.claude/projects/**/*.jsonl`, `~/.config/claude/projects/**`, or the
  directories in `CLAUDE_CONFIG_DIR`), subagent transcripts included: assistant lines with
  `message.usage`, deduplicated by `message.id` + `requestId`, keeping the largest usage;
- Codex session logs (`${CODEX_HOME:-~/.codex}/sessions/**` and `archived_sessions/`): one record
  per response from the `token_count` events (a repeated counter is counted once), with the model
  of the surrounding `turn_context`, stored like a `Token usage:` line (input = input - cached,
  cache read = cached, output with reasoning inside, reasoning apart).

Records go in batches to `POST /api/ingest/messages` with the host key from the installer's
`host.env`. A file's read position advances only after the server accepted every record read from
it. 429 waits for `Retry-After`; 5xx and network errors are retried with back-off and otherwise
left for the next run; a batch answered with another 4xx, and every entry the server lists in
`rejected`, is appended to the dead-letter file and reported, never silently dropped.

No double count with `cdx`: a Codex run wrapped by `cdx` is reported by cdx from Codex's own
`Token usage:` line. cdx leaves a claim in `<state>/claims/`: the byte ranges of the session logs
its lines reported (what each log grew by during the run); the collector skips exactly the turns
in them, and waits for the turns an open cdx run may still claim. No clock decides which turn is
whose, so each turn is counted once whichever of the two sees it first.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import re
import signal
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

VERSION = "1.1.0"
BATCH_SIZE = 500
DEFAULT_CODEX_MODEL = "codex-unspecified"
# A forked or sub-agent session starts with a verbatim copy of its parent's lines, all stamped
# at the fork time within about a second: those counters are a baseline, not new usage.
FORK_BURST = timedelta(seconds=2)
# A Claude message whose lines may still be streaming is held back until its file is this quiet.
DEFAULT_SETTLE_SECONDS = 60
CLAIM_SLACK = timedelta(seconds=2)
CLAIM_RETENTION = timedelta(days=40)
UTC = timezone.utc
_SESSION_ID_RE = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.jsonl$", re.IGNORECASE
)
_USAGE_FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
    "total_tokens",
)


class Fatal(Exception):
    """Stop this run; the message says why. Nothing read in this run is lost."""


class Retryable(Exception):
    """The server could not take a batch now; the next run tries again."""


# --- configuration --------------------------------------------------------------------------


def config_path() -> str:
    explicit = os.environ.get("TOKENFLEET_CONFIG")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "tokenfleet", "host.env")


def state_dir() -> str:
    explicit = os.environ.get("TOKENFLEET_STATE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "tokenfleet")


def read_host_env(path: str) -> dict:
    """`KEY=value` lines (no shell evaluation); the installer writes the file 0600."""
    values = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for raw in handle:
                line = raw.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                key, value = line.split("=", 1)
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                values[key.strip()] = value
    except OSError as exc:
        raise Fatal(f"cannot read {path}: {exc.strerror} (run the tokenfleet installer)") from exc
    for key in ("TOKENFLEET_URL", "TOKENFLEET_HOST_KEY"):
        if not values.get(key):
            raise Fatal(f"{path} has no {key} (run the tokenfleet installer again)")
    values["TOKENFLEET_URL"] = values["TOKENFLEET_URL"].rstrip("/")
    if not values["TOKENFLEET_URL"].startswith(("https://", "http://")):
        raise Fatal(f"{path}: TOKENFLEET_URL must be an http(s) URL")
    return values


# --- small helpers --------------------------------------------------------------------------


def parse_ts(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.9's fromisoformat takes at most 6 fractional digits.
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)$", text)
    if match:
        # Python 3.9's fromisoformat takes exactly 3 or 6 fractional digits.
        digits = (match.group(2) or ".")[1:7]
        fraction = "." + digits.ljust(6, "0") if digits else ""
        text = match.group(1) + fraction + match.group(3)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def write_json_atomic(path: str, data: object) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, separators=(",", ":"))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_json(path: str, default: object) -> object:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return default


def read_complete_lines(
    path: str, offset: int, limit: int | None = None
) -> tuple[list[tuple[int, bytes]], int]:
    """(start offset, line) of every complete line after `offset` (and before `limit`), and the
    offset after the last.

    A last line without its newline is being written: it is left for the next run.
    """
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read() if limit is None else handle.read(max(0, limit - offset))
    lines = []
    position = offset
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            break
        lines.append((position + start, data[start:end]))
        start = end + 1
    return lines, offset + start


def load_line(raw: bytes) -> dict | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def as_count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return 0
    return int(value)


# --- Claude Code ------------------------------------------------------------------------------


def claude_roots() -> list[str]:
    configured = os.environ.get("CLAUDE_CONFIG_DIR")
    home = os.path.expanduser("~")
    if configured:
        bases = [part.strip() for part in configured.split(",") if part.strip()]
    else:
        bases = [os.path.join(home, ".claude"), os.path.join(home, ".config", "claude")]
    return [os.path.join(os.path.expanduser(base), "projects") for base in bases]


def jsonl_files(root: str) -> list[str]:
    found = []
    for directory, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".jsonl"):
                found.append(os.path.join(directory, name))
    return sorted(found)


def claude_usage_size(usage: dict) -> int:
    return sum(
        as_count(usage.get(name))
        for name in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
        )
    )


def claude_record(line: dict) -> tuple[str, dict, int] | None:
    """(dedup key, ingest message, usage size) of an assistant line with usage, else None."""
    if line.get("type") != "assistant":
        return None
    message = line.get("message")
    if not isinstance(message, dict):
        return None
    usage = message.get("usage")
    message_id = message.get("id")
    model = message.get("model")
    if not isinstance(usage, dict) or not isinstance(message_id, str) or not message_id:
        return None
    if not isinstance(model, str) or not model or model == "<synthetic>":
        return None
    ts = parse_ts(line.get("timestamp"))
    if ts is None:
        return None
    request_id = line.get("requestId")
    request_id = request_id if isinstance(request_id, str) and request_id else None
    key = f"{message_id}:{request_id}" if request_id else message_id
    cache_creation = as_count(usage.get("cache_creation_input_tokens"))
    split = usage.get("cache_creation")
    one_hour = as_count(split.get("ephemeral_1h_input_tokens")) if isinstance(split, dict) else 0
    record = {
        "message_id": key,
        "source": "claude",
        "model": model,
        "ts": iso(ts),
        "input_tokens": as_count(usage.get("input_tokens")),
        "cache_creation_input_tokens": cache_creation,
        "cache_creation_1h_input_tokens": min(one_hour, cache_creation),
        "cache_read_input_tokens": as_count(usage.get("cache_read_input_tokens")),
        "output_tokens": as_count(usage.get("output_tokens")),
    }
    if request_id:
        record["request_id"] = request_id
    return key, record, claude_usage_size(usage)


def claude_read(path: str, state: dict, *, settle: float, now: float) -> tuple[list, dict]:
    """New messages of one transcript and the file's state once they are accepted.

    The newest message is held back (kept in the state, not sent) while the file changed less
    than `settle` seconds ago: its lines may still be arriving with a larger usage.
    """
    stat = os.stat(path)
    offset = int(state.get("offset", 0))
    pending = dict(state.get("pending") or {})
    if state.get("inode") not in (None, stat.st_ino) or stat.st_size < offset:
        offset, pending = 0, {}  # replaced or truncated: read again; ids deduplicate
    lines, new_offset = read_complete_lines(path, offset)
    order = list(pending)
    best: dict = dict(pending)
    for _start, raw in lines:
        line = load_line(raw)
        if line is None:
            continue
        found = claude_record(line)
        if found is None:
            continue
        key, record, size = found
        held = best.get(key)
        if held is None:
            order.append(key)
            best[key] = {"record": record, "size": size}
        elif size > held["size"]:
            best[key] = {"record": record, "size": size}
    keep: dict = {}
    if order and now - stat.st_mtime < settle:
        last = order[-1]
        keep[last] = best[last]
        order = order[:-1]
    records = [best[key]["record"] for key in order]
    new_state = {"offset": new_offset, "inode": stat.st_ino, "pending": keep}
    return records, new_state


# --- Codex ----------------------------------------------------------------------------------


def codex_home() -> str:
    return os.path.expanduser(os.environ.get("CODEX_HOME") or os.path.join("~", ".codex"))


def codex_files() -> dict:
    """Session id → path. An archived copy (same session id) replaces the live path."""
    home = codex_home()
    found: dict = {}
    for root in (os.path.join(home, "sessions"), os.path.join(home, "archived_sessions")):
        for path in jsonl_files(root):
            match = _SESSION_ID_RE.search(os.path.basename(path))
            if match:
                found[match.group(1).lower()] = path
    return found


def _usage(value: object) -> dict | None:
    if not isinstance(value, dict):
        return None
    names = (*_USAGE_FIELDS, "cache_write_input_tokens")
    return {name: as_count(value.get(name)) for name in names}


class Claims:
    """The cdx runs on this machine: `<state>/claims/*.json`, written by cdx.

    A closed claim names `ranges`: byte ranges of session logs whose turns its `Token usage:`
    lines reported; exactly those turns are skipped (offsets survive archiving, which moves a
    log unchanged). An open claim names `sizes`, every log's size before Codex started: a turn
    past that size may still be claimed, so it waits until the run ends, as do the ranges of a
    run still `delivering` its lines (cdx gives them back when it cannot). Claims of older cdx
    releases (no ranges, no sizes) fall back to the run's time window.
    """

    def __init__(self, directory: str):
        self.ranges: dict = {}  # session id → [(first byte, end)]
        self.sending: dict = {}  # the same, of runs still delivering their lines
        self.windows: dict = {}  # session id → [(start, end)], claims without ranges
        self.open_sizes: list = []  # session id → size when the run began, per open run
        self.open_starts: list = []  # open claims without sizes
        now = datetime.now(UTC)
        try:
            names = os.listdir(directory)
        except OSError:
            names = []
        for name in names:
            if not name.endswith(".json"):
                continue
            path = os.path.join(directory, name)
            claim = read_json(path, None)
            if not isinstance(claim, dict):
                continue
            start = parse_ts(claim.get("start"))
            end = parse_ts(claim.get("end"))
            if start is None:
                continue
            if end is None:
                if run_alive(claim):
                    sizes = claim.get("sizes")
                    if isinstance(sizes, dict):
                        self.open_sizes.append(
                            {str(k).lower(): v for k, v in sizes.items() if _is_offset(v)}
                        )
                    else:
                        self.open_starts.append(start)
                elif now - start > timedelta(days=1):
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                continue  # a cdx that died reported nothing: its turns are ours
            if now - end > CLAIM_RETENTION:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                continue
            ranges = claim.get("ranges")
            if isinstance(ranges, list):
                # While cdx is still sending, its ranges may yet be given back (not delivered):
                # wait. A cdx that died sending left its lines queued for its next run.
                sending = claim.get("delivering") is True and run_alive(claim)
                found = self.sending if sending else self.ranges
                for part in ranges:
                    if not isinstance(part, dict) or not isinstance(part.get("session"), str):
                        continue
                    first, until = part.get("from"), part.get("to")
                    if _is_offset(first) and _is_offset(until):
                        found.setdefault(part["session"].lower(), []).append((first, until))
                continue
            for session in claim.get("sessions") or []:
                if isinstance(session, str):
                    self.windows.setdefault(session.lower(), []).append((start, end))

    def claimed(self, session_id: str, offset: int, ts: datetime) -> bool:
        """Whether a cdx run reported the turn on the line starting at `offset`."""
        if any(first <= offset < until for first, until in self.ranges.get(session_id, [])):
            return True
        return any(
            start - CLAIM_SLACK <= ts <= end + CLAIM_SLACK
            for start, end in self.windows.get(session_id, [])
        )

    def open_at(self, session_id: str, offset: int, ts: datetime) -> bool:
        """Whether a cdx run still going may yet claim this turn."""
        if any(offset >= sizes.get(session_id, 0) for sizes in self.open_sizes):
            return True
        if any(first <= offset < until for first, until in self.sending.get(session_id, [])):
            return True
        return any(ts >= start - CLAIM_SLACK for start in self.open_starts)


def _is_offset(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def run_alive(claim: dict) -> bool:
    """Whether the cdx that wrote `claim` still runs: its pid, and (Linux) the same process,
    not a later one that was given the pid again."""
    pid = claim.get("pid")
    if not pid_alive(pid):
        return False
    started = claim.get("pid_start")
    return not isinstance(started, int) or process_start(pid) in (None, started)


def process_start(pid: object) -> int | None:
    """When a process started (clock ticks since boot, from /proc), or None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: object) -> bool:
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def codex_turn_record(session_id: str, ts: datetime, model: str, last: dict) -> dict:
    cached = min(last["cached_input_tokens"], last["input_tokens"])
    written = min(last["cache_write_input_tokens"], last["input_tokens"] - cached)
    output = last["output_tokens"]
    return {
        "message_id": f"codex:{session_id}:{iso(ts)}:{last['total_tokens']}",
        "source": "codex",
        "model": model or DEFAULT_CODEX_MODEL,
        "ts": iso(ts),
        "input_tokens": last["input_tokens"] - cached - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
        "reasoning_tokens": min(last["reasoning_output_tokens"], output),
    }


def codex_read(
    session_id: str, path: str, state: dict, claims: Claims, size: int | None = None
) -> tuple[list, dict]:
    """Per-response records of one session log from where the last accepted read stopped, up
    to `size` (the log's size before `claims` was read).

    Stops early (keeping the position) at the first turn an open cdx run may still claim.
    """
    stat = os.stat(path)
    offset = int(state.get("offset", 0))
    if stat.st_size < offset:
        state = {}
        offset = 0
    previous = state.get("total")
    model = state.get("model") or ""
    fork_until = parse_ts(state.get("fork_until"))
    lines, end_offset = read_complete_lines(path, offset, size)
    records = []
    stop_at = end_offset
    for start, raw in lines:
        line = load_line(raw)
        if line is None:
            continue
        kind = line.get("type")
        payload = line.get("payload")
        if not isinstance(payload, dict):
            continue
        ts = parse_ts(line.get("timestamp"))
        if kind == "session_meta":
            if start == 0:
                source = payload.get("source")
                if payload.get("forked_from_id") or isinstance(source, dict):
                    meta_ts = ts or parse_ts(payload.get("timestamp"))
                    if meta_ts is not None:
                        fork_until = meta_ts + FORK_BURST
            continue
        if kind == "turn_context":
            if isinstance(payload.get("model"), str) and payload["model"]:
                model = payload["model"]
            continue
        if kind != "event_msg" or payload.get("type") != "token_count" or ts is None:
            continue
        info = payload.get("info")
        if not isinstance(info, dict):
            continue
        total = _usage(info.get("total_token_usage"))
        if total is None or total == previous:
            continue  # the same counter written again (rate-limit refresh, compaction)
        last = _usage(info.get("last_token_usage"))
        if last is None:
            if previous is not None and total["total_tokens"] >= previous["total_tokens"]:
                last = {name: max(0, total[name] - previous[name]) for name in total}
            else:
                last = total
        in_fork_copy = fork_until is not None and ts <= fork_until
        if not in_fork_copy and claims.open_at(session_id, start, ts):
            stop_at = start  # a cdx run is still going: decide on this turn later
            break
        if not in_fork_copy and not claims.claimed(session_id, start, ts):
            records.append(codex_turn_record(session_id, ts, model, last))
        previous = total
    new_state = {
        "offset": stop_at,
        "path": path,
        "total": previous,
        "model": model,
        "fork_until": iso(fork_until) if fork_until else None,
    }
    return records, new_state


# --- the server -----------------------------------------------------------------------------


class Server:
    def __init__(self, url: str, key: str, fqdn: str, *, backoff: float, retries: int):
        self.url = url
        self.key = key
        self.fqdn = fqdn
        self.backoff = backoff
        self.retries = retries

    def post_batch(self, records: list) -> tuple[int, dict]:
        """(status, answer) of the server's final word on this batch; Retryable otherwise."""
        body = json.dumps({"machine": self.fqdn, "messages": records}).encode("utf-8")
        delay = self.backoff
        attempt = 0
        while True:
            attempt += 1
            # The URL is the installer's http(s) TOKENFLEET_URL (checked in read_host_env).
            request = urllib.request.Request(  # noqa: S310
                self.url + "/api/ingest/messages",
                data=body,
                method="POST",
                headers={
                    "Content-Type": "application/json",
                    "X-API-Key": self.key,
                    "User-Agent": f"tokenfleet-collect/{VERSION}",
                },
            )
            wait = None
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    return response.status, json_body(response.read())
            except urllib.error.HTTPError as exc:
                answer = json_body(exc.read())
                if exc.code == 429:
                    wait = retry_after(exc.headers.get("Retry-After"), default=delay)
                    problem = "rate limited (429)"
                elif exc.code >= 500:
                    problem = f"server error {exc.code}"
                else:
                    return exc.code, answer
            except (urllib.error.URLError, OSError) as exc:
                problem = f"server unreachable ({getattr(exc, 'reason', exc)})"
            if attempt > self.retries:
                raise Retryable(problem)
            time.sleep(wait if wait is not None else delay)
            delay = min(delay * 2, 300)


def json_body(data: bytes) -> dict:
    try:
        value = json.loads(data or b"{}")
    except ValueError:
        return {"error": data[:200].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"error": str(value)[:200]}


def retry_after(value: object, *, default: float) -> float:
    try:
        seconds = float(str(value).strip())
    except (TypeError, ValueError):
        return default
    return min(max(seconds, 0.0), 900.0)


def dead_letter(path: str, entries: list) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


# --- one pass -------------------------------------------------------------------------------


class Collector:
    def __init__(self, server: Server, directory: str, *, settle: float, log):
        self.server = server
        self.dir = directory
        self.settle = settle
        self.log = log
        self.state_path = os.path.join(directory, "collector.json")
        self.dead_path = os.path.join(directory, "dead-letter.jsonl")
        self.summary = {"sent": 0, "applied": 0, "duplicates": 0, "dead": 0}

    def load_state(self) -> dict:
        state = read_json(self.state_path, {})
        if not isinstance(state, dict):
            state = {}
        state.setdefault("claude", {})
        state.setdefault("codex", {})
        return state

    def groups(self, state: dict) -> list:
        """(records, commit) per file with something new; commit stores that file's state."""
        found = []
        now = time.time()
        seen_claude = set()
        for root in claude_roots():
            for path in jsonl_files(root):
                real = os.path.realpath(path)
                if real in seen_claude:
                    continue
                seen_claude.add(real)
                try:
                    records, new = claude_read(
                        real, state["claude"].get(real, {}), settle=self.settle, now=now
                    )
                except OSError:
                    continue  # deleted while we looked (Claude Code's cleanup): not an error
                if new != state["claude"].get(real):
                    found.append((records, ("claude", real, new)))
        # Transcripts that are gone (cleanup) are forgotten.
        for path in list(state["claude"]):
            if path not in seen_claude and not os.path.exists(path):
                del state["claude"][path]
        # Each log is read only as far as it reached before the claims were read: a turn written
        # later may belong to a cdx run that opened its claim meanwhile; the next pass sees both.
        sizes = {}
        for session_id, path in codex_files().items():
            with contextlib.suppress(OSError):
                sizes[session_id] = (path, os.stat(path).st_size)
        claims = Claims(os.path.join(self.dir, "claims"))
        for session_id, (path, size) in sorted(sizes.items()):
            previous = state["codex"].get(session_id, {})
            try:
                records, new = codex_read(session_id, path, previous, claims, size)
            except OSError:
                continue
            if new != previous:
                found.append((records, ("codex", session_id, new)))
        return found

    def run_once(self) -> int:
        state = self.load_state()
        pending: list = []  # (records, commit) not yet sent
        for records, commit in self.groups(state):
            if not records:
                self.commit(state, commit)
                continue
            pending.append((records, commit))
        self.save(state)
        batch: list = []
        commits: list = []
        try:
            for records, commit in pending:
                for start in range(0, len(records), BATCH_SIZE):
                    chunk = records[start : start + BATCH_SIZE]
                    if len(batch) + len(chunk) > BATCH_SIZE:
                        self.send(batch, commits, state)
                        batch, commits = [], []
                    batch.extend(chunk)
                commits.append(commit)
            if batch or commits:
                self.send(batch, commits, state)
        except Retryable as exc:
            self.log(f"tokenfleet-collect: {exc}; will retry on the next run")
            return 75  # EX_TEMPFAIL: positions kept, nothing lost
        return 0

    def send(self, batch: list, commits: list, state: dict) -> None:
        if batch:
            status, answer = self.server.post_batch(batch)
            if status in (401, 403):
                message = answer.get("error") or answer.get("message") or f"HTTP {status}"
                raise Fatal(f"the server refused the host key: {message}")
            self.summary["sent"] += len(batch)
            now = iso(datetime.now(UTC))
            if 200 <= status < 300:
                self.summary["applied"] += as_count(answer.get("applied"))
                self.summary["duplicates"] += as_count(answer.get("duplicates"))
                dead = []
                for item in answer.get("rejected") or []:
                    index = item.get("index") if isinstance(item, dict) else None
                    if isinstance(index, int) and 0 <= index < len(batch):
                        dead.append(
                            {
                                "at": now,
                                "status": status,
                                "error": item.get("error"),
                                "message": batch[index],
                            }
                        )
            else:
                error = answer.get("error") or answer.get("message") or f"HTTP {status}"
                dead = [
                    {"at": now, "status": status, "error": error, "message": record}
                    for record in batch
                ]
            if dead:
                dead_letter(self.dead_path, dead)
                self.summary["dead"] += len(dead)
                self.log(
                    f"tokenfleet-collect: the server refused {len(dead)} record(s) "
                    f"(first: {dead[0]['error']}); kept in {self.dead_path}"
                )
        for commit in commits:
            self.commit(state, commit)
        self.save(state)

    @staticmethod
    def commit(state: dict, commit: tuple) -> None:
        kind, key, new = commit
        state[kind][key] = new

    def save(self, state: dict) -> None:
        write_json_atomic(self.state_path, state)


@contextlib.contextmanager
def single_instance(directory: str):
    import fcntl

    os.makedirs(directory, exist_ok=True)
    handle = open(os.path.join(directory, "collector.lock"), "a")  # noqa: SIM115
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True
    finally:
        handle.close()


def main(argv: list | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tokenfleet-collect",
        description="Send Claude Code and Codex usage of this machine to tokenfleet.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one pass, then exit (the default)")
    mode.add_argument("--follow", action="store_true", help="keep running, a pass per interval")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between passes")
    parser.add_argument(
        "--settle",
        type=float,
        default=float(os.environ.get("TOKENFLEET_SETTLE_SECONDS", DEFAULT_SETTLE_SECONDS)),
        help="hold a transcript's newest message until the file is this many seconds quiet",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print a summary line")
    parser.add_argument("--version", action="version", version=f"tokenfleet-collect {VERSION}")
    args = parser.parse_args(argv)

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    try:
        config = read_host_env(config_path())
    except Fatal as exc:
        log(f"tokenfleet-collect: {exc}")
        return 78  # EX_CONFIG
    server = Server(
        config["TOKENFLEET_URL"],
        config["TOKENFLEET_HOST_KEY"],
        config.get("TOKENFLEET_FQDN") or "unknown-host",
        backoff=float(os.environ.get("TOKENFLEET_BACKOFF_SECONDS", "2")),
        retries=int(os.environ.get("TOKENFLEET_RETRIES", "4")),
    )
    directory = state_dir()
    stop = {"now": False}

    def request_stop(_signum, _frame) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    with single_instance(directory) as alone:
        if not alone:
            log("tokenfleet-collect: another collector is running; nothing to do")
            return 0
        while True:
            collector = Collector(server, directory, settle=args.settle, log=log)
            try:
                status = collector.run_once()
            except Fatal as exc:
                log(f"tokenfleet-collect: {exc}")
                return 1
            summary = collector.summary
            if args.verbose or summary["dead"]:
                print(
                    "tokenfleet-collect: sent {sent}, applied {applied}, duplicates "
                    "{duplicates}, dead-lettered {dead}".format(**summary),
                    flush=True,
                )
            if not args.follow:
                return status
            deadline = time.monotonic() + max(args.interval, 1.0)
            while not stop["now"] and time.monotonic() < deadline:
                time.sleep(0.2)
            if stop["now"]:
                return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
