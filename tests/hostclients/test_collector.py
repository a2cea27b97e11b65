"""tokenfleet-collect against synthetic transcripts and session logs (FORMATS.md shapes).

The program runs as the hosts run it (a subprocess with its own HOME); the server is either a
scripted fake (429/500/400/rejected answers) or, at the end, the live tokenfleet server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.hostclients import synthetic
from usage.collector import SOURCE_PATH


@dataclass
class FakeIngest:
    """Answers /api/ingest/messages from a script of (status, body, headers); then 200s."""

    url: str = ""
    script: list[tuple[int, dict, dict]] = field(default_factory=list)
    batches: list[dict] = field(default_factory=list)  # every batch received
    accepted: dict[str, dict] = field(default_factory=dict)  # message_id → first accepted copy
    keys: list[str] = field(default_factory=list)

    def answer(self, body: dict) -> tuple[int, dict, dict]:
        self.batches.append(body)
        if self.script:
            status, answer, headers = self.script.pop(0)
            if status != 200:
                return status, answer, headers
        else:
            answer, headers = {}, {}
        rejected = answer.get("rejected", [])
        bad = {item["index"] for item in rejected}
        applied = duplicates = 0
        for index, message in enumerate(body["messages"]):
            if index in bad:
                continue
            if message["message_id"] in self.accepted:
                duplicates += 1
            else:
                self.accepted[message["message_id"]] = message
                applied += 1
        received = len(body["messages"])
        return (
            200,
            {
                "ok": True,
                "received": received,
                "applied": applied,
                "duplicates": duplicates,
                "rejected": rejected,
            },
            {},
        )


@pytest.fixture
def fake_ingest():
    fake = FakeIngest()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.keys.append(self.headers.get("X-API-Key", ""))
            status, answer, headers = fake.answer(body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    return home


def configure(home: Path, url: str, key: str = "hk_CollectorTestKey0123456789abcdefghij") -> None:
    config = home / ".config" / "tokenfleet"
    config.mkdir(parents=True, exist_ok=True)
    (config / "host.env").write_text(
        f"TOKENFLEET_URL={url}\nTOKENFLEET_FQDN=collector.e2e.test\nTOKENFLEET_HOST_KEY={key}\n"
    )
    (config / "host.env").chmod(0o600)


def collect(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SOURCE_PATH), "--once", "--settle", "0", *args],
        env={
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "TOKENFLEET_BACKOFF_SECONDS": "0.05",
            "TOKENFLEET_RETRIES": "2",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def state_dir(home: Path) -> Path:
    return home / ".local" / "state" / "tokenfleet"


def codex_ids(accepted: dict) -> list[str]:
    return sorted(key for key in accepted if key.startswith("codex:"))


def test_it_counts_every_message_once_over_two_runs(home, fake_ingest):
    configure(home, fake_ingest.url)
    claude = synthetic.write_claude(home)
    codex = synthetic.write_codex(home / ".codex")

    first = collect(home)
    assert first.returncode == 0, first.stderr
    assert set(k for k in fake_ingest.accepted if not k.startswith("codex:")) == set(claude)
    for key, want in claude.items():
        got = fake_ingest.accepted[key]
        assert (
            got["input_tokens"],
            got["cache_creation_input_tokens"],
            got["cache_creation_1h_input_tokens"],
            got["cache_read_input_tokens"],
            got["output_tokens"],
            got["source"],
        ) == (want["input"], want["cc"], want["cc1h"], want["read"], want["out"], "claude")
    got_codex = sorted(
        (m for k, m in fake_ingest.accepted.items() if k.startswith("codex:")),
        key=lambda m: m["ts"],
    )
    assert [
        (
            m["model"],
            m["input_tokens"],
            m["cache_read_input_tokens"],
            m["output_tokens"],
            m["reasoning_tokens"],
            m["ts"],
            m["source"],
        )
        for m in got_codex
    ] == [
        (w["model"], w["input"], w["read"], w["out"], w["reasoning"], w["ts"], "codex")
        for w in codex
    ]
    assert all(key == "hk_CollectorTestKey0123456789abcdefghij" for key in fake_ingest.keys)
    sent_first = sum(len(batch["messages"]) for batch in fake_ingest.batches)
    assert sent_first == len(claude) + len(codex)

    # Second run: nothing new is sent at all.
    second = collect(home)
    assert second.returncode == 0, second.stderr
    assert sum(len(batch["messages"]) for batch in fake_ingest.batches) == sent_first

    # The half-written line completes, the session log is archived (moved), a transcript is
    # rotated (renamed away, a new file in its place): only the two new messages are sent.
    more = synthetic.finish_claude(home)
    synthetic.archive_codex(home / ".codex")
    other = home / ".config" / "claude" / "projects" / "-home-dev-other" / "sess-2.jsonl"
    other.rename(other.with_name("sess-2.jsonl.1"))
    other.write_text(synthetic.assistant("msg_02B", "req_02B", "2026-11-21T09:00:00.000Z") + "\n")
    third = collect(home)
    assert third.returncode == 0, third.stderr
    resent = [m["message_id"] for m in fake_ingest.batches[-1]["messages"]]
    assert sorted(resent) == ["msg_01C:req_01C", "msg_02B:req_02B"]
    assert len(fake_ingest.accepted) == len(claude) + len(more) + 1 + len(codex)
    assert len(codex_ids(fake_ingest.accepted)) == len(codex)


def test_it_honours_retry_after_and_retries_server_errors(home, fake_ingest):
    configure(home, fake_ingest.url)
    claude = synthetic.write_claude(home)
    fake_ingest.script = [
        (429, {"error": "Rate limit exceeded."}, {"Retry-After": "1"}),
        (500, {"error": "Internal error."}, {}),
        (502, {}, {}),
    ]
    started = time.monotonic()
    run = collect(home, TOKENFLEET_RETRIES="3")
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - started >= 1.0  # waited as Retry-After said
    assert len(fake_ingest.batches) == 4  # 429, 500, 502, then accepted
    assert set(fake_ingest.accepted) == set(claude)


def test_it_keeps_its_place_when_the_server_stays_down(home, fake_ingest):
    configure(home, fake_ingest.url)
    claude = synthetic.write_claude(home)
    fake_ingest.script = [(503, {"error": "down"}, {})] * 3
    down = collect(home)
    assert down.returncode == 75, down.stderr  # EX_TEMPFAIL: try again later
    assert "will retry on the next run" in down.stderr
    assert fake_ingest.accepted == {}
    later = collect(home)
    assert later.returncode == 0, later.stderr
    assert set(fake_ingest.accepted) == set(claude)

    # An unreachable server is the same: nothing advances, nothing is lost.
    configure(home, "http://127.0.0.1:9")
    synthetic.finish_claude(home)
    assert collect(home).returncode == 75
    configure(home, fake_ingest.url)
    assert collect(home).returncode == 0
    assert "msg_01C:req_01C" in fake_ingest.accepted


def test_it_dead_letters_a_refused_batch_and_rejected_entries(home, fake_ingest):
    configure(home, fake_ingest.url)
    claude = synthetic.write_claude(home)
    fake_ingest.script = [(400, {"error": "Invalid request."}, {})]
    refused = collect(home)
    assert refused.returncode == 0, refused.stderr
    assert "refused 5 record(s)" in refused.stderr
    dead = [
        json.loads(line)
        for line in (state_dir(home) / "dead-letter.jsonl").read_text().splitlines()
    ]
    assert {entry["message"]["message_id"] for entry in dead} == set(claude)
    assert {entry["status"] for entry in dead} == {400}
    assert {entry["error"] for entry in dead} == {"Invalid request."}
    assert fake_ingest.accepted == {}

    # Entries the server lists in `rejected` are kept too; the rest are stored.
    more = synthetic.finish_claude(home)
    codex = synthetic.write_codex(home / ".codex")
    fake_ingest.script = [(200, {"rejected": [{"index": 0, "error": "ts is not plausible."}]}, {})]
    partly = collect(home)
    assert partly.returncode == 0, partly.stderr
    dead = [
        json.loads(line)
        for line in (state_dir(home) / "dead-letter.jsonl").read_text().splitlines()
    ]
    assert len(dead) == len(claude) + 1
    assert dead[-1]["error"] == "ts is not plausible."
    first_sent = fake_ingest.batches[-1]["messages"][0]["message_id"]
    assert dead[-1]["message"]["message_id"] == first_sent
    assert len(fake_ingest.accepted) == len(more) + len(codex) - 1


def test_it_stops_without_losing_anything_when_the_key_is_refused(home, fake_ingest):
    configure(home, fake_ingest.url)
    claude = synthetic.write_claude(home)
    fake_ingest.script = [(401, {"error": "Invalid API key"}, {})]
    refused = collect(home)
    assert refused.returncode == 1
    assert "refused the host key" in refused.stderr
    assert not (state_dir(home) / "dead-letter.jsonl").exists()
    assert collect(home).returncode == 0
    assert set(fake_ingest.accepted) == set(claude)


def test_it_skips_turns_a_cdx_run_reported_and_waits_for_an_open_run(home, fake_ingest):
    configure(home, fake_ingest.url)
    codex = synthetic.write_codex(home / ".codex")
    claims = state_dir(home) / "claims"
    claims.mkdir(parents=True)
    # cdx reported the first session's turns of 2026-11-20 from its Token usage line.
    (claims / "closed.json").write_text(
        json.dumps(
            {
                "pid": 1,
                "start": "2026-11-20T09:15:00.000Z",
                "end": "2026-11-20T09:18:00.000Z",
                "sessions": [synthetic.SESSION],
            }
        )
    )
    # A cdx run that is still going (this test process stands for it) since 2026-11-21.
    (claims / "open.json").write_text(
        json.dumps({"pid": os.getpid(), "start": "2026-11-21T00:00:00.000Z", "end": None})
    )
    first = collect(home)
    assert first.returncode == 0, first.stderr
    assert fake_ingest.accepted == {}  # every turn is cdx's or waits for the open run

    # The run ends without claiming the session (Codex crashed, no usage line): counted now.
    (claims / "open.json").write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "start": "2026-11-21T00:00:00.000Z",
                "end": "2026-11-22T23:00:00.000Z",
                "sessions": [],
            }
        )
    )
    second = collect(home)
    assert second.returncode == 0, second.stderr
    assert sorted(m["ts"] for m in fake_ingest.accepted.values()) == [
        row["ts"] for row in codex[2:]
    ]


def test_it_refuses_to_run_without_the_installers_file(home):
    run = collect(home)
    assert run.returncode == 78
    assert "run the tokenfleet installer" in run.stderr


def test_it_runs_on_the_live_server_and_counts_every_message_once(make_host):
    host = make_host("collector.e2e.test")
    claude = synthetic.write_claude(host.home)
    codex = synthetic.write_codex(host.codex_home)
    for _ in range(2):
        run = host.collect("--settle", "0")
        assert run.returncode == 0, run.stderr
    rows = host.fleet.recent(host.fqdn)
    assert len(rows) == len(claude) + len(codex)
    by_id = {row["messageId"]: row for row in rows}
    for key, want in claude.items():
        row = by_id[key]
        assert (row["input"], row["cacheCreation"], row["cacheRead"], row["output"]) == (
            want["input"],
            want["cc"],
            want["read"],
            want["out"],
        )
        assert row["machine"] == host.fqdn and row["user"] == "alice"
    codex_rows = sorted(
        (r for r in rows if r["messageId"].startswith("codex:")), key=lambda r: r["ts"]
    )
    assert [(r["input"], r["cacheRead"], r["output"], r["reasoning"]) for r in codex_rows] == [
        (w["input"], w["read"], w["out"], w["reasoning"]) for w in codex
    ]
    # Claude Code usage is not Codex usage; the collector's Codex turns are.
    from tests.hostclients.test_cdx import retrieve

    month = retrieve(host)["token_usage_month"]
    this_month = datetime.now(UTC).strftime("%Y-%m")
    assert month["events"] == sum(1 for w in codex if w["ts"].startswith(this_month))


def test_it_follows_and_reads_claude_config_dir(home, fake_ingest, tmp_path):
    configure(home, fake_ingest.url)
    elsewhere = tmp_path / "claude-a"
    (elsewhere / "projects" / "p").mkdir(parents=True)
    follower = subprocess.Popen(
        [sys.executable, str(SOURCE_PATH), "--follow", "--interval", "1", "--settle", "0"],
        env={
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CLAUDE_CONFIG_DIR": f"{elsewhere},{tmp_path / 'missing'}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        (elsewhere / "projects" / "p" / "s.jsonl").write_text(
            synthetic.assistant("msg_F1", "req_F1", "2026-11-20T07:00:00.000Z") + "\n"
        )
        deadline = time.monotonic() + 20
        while "msg_F1:req_F1" not in fake_ingest.accepted and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "msg_F1:req_F1" in fake_ingest.accepted
        # ~/.claude is not read when CLAUDE_CONFIG_DIR names the directories.
        synthetic.write_claude(home)
        time.sleep(2.5)
        assert set(fake_ingest.accepted) == {"msg_F1:req_F1"}
    finally:
        follower.terminate()
        assert follower.wait(timeout=10) == 0
