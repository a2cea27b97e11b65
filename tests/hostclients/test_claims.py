"""Which source counts a Codex turn: cdx's claims (hosts/wrapper/cdx.template) and the
collector's reading of them (usage/collector/tokenfleet_collect.py `Claims`).

A claim names the byte ranges of session logs whose turns a cdx run reported: what each log grew
by between the claim's opening (before Codex starts) and the run's end. These tests pin the
cases that a time window got wrong: a session that ended a moment before the run started, with
the same totals (cdx claimed it instead of the run's own session, and the collector then counted
the run's turns a second time), and every boundary of a range.
"""

from __future__ import annotations

import json
import os
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from usage.collector import tokenfleet_collect as collect

TEMPLATE = Path(__file__).resolve().parents[2] / "hosts" / "wrapper" / "cdx.template"
OLD = "11111111-1111-4111-8111-111111111111"
NEW = "22222222-2222-4222-8222-222222222222"
FIRST = {
    "input_tokens": 18500,
    "cached_input_tokens": 12000,
    "output_tokens": 900,
    "reasoning_output_tokens": 512,
    "total_tokens": 19400,
}
SECOND = {
    "input_tokens": 3000,
    "cached_input_tokens": 1000,
    "output_tokens": 334,
    "reasoning_output_tokens": 100,
    "total_tokens": 3334,
}
TOTAL = {key: FIRST[key] + SECOND[key] for key in FIRST}
# What Codex prints for a session of FIRST and SECOND (total excludes cached input).
LINE = "Token usage: total=9,734 input=8,500 (+ 13,000 cached) output=1,234 (reasoning 612)"
SECOND_LINE = "Token usage: total=2,334 input=2,000 (+ 1,000 cached) output=334 (reasoning 100)"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def event(at: datetime, kind: str, payload: dict) -> str:
    line = {"timestamp": stamp(at), "type": kind, "payload": payload}
    return json.dumps(line, separators=(",", ":")) + "\n"


def turn(at: datetime, total: dict, last: dict) -> str:
    info = {"total_token_usage": total, "last_token_usage": last, "model_context_window": 272000}
    return event(at, "event_msg", {"type": "token_count", "info": info, "rate_limits": None})


def opening(at: datetime, session_id: str) -> str:
    meta = {"id": session_id, "timestamp": stamp(at), "cwd": "/w", "source": "cli"}
    return event(at, "session_meta", meta) + event(
        at, "turn_context", {"cwd": "/w", "model": "gpt-5.1-codex"}
    )


def run_of_codex(at: datetime, session_id: str) -> str:
    """The log of one Codex run as the stub writes it: two responses, the first counter twice."""
    return (
        opening(at, session_id)
        + turn(at + timedelta(milliseconds=30), FIRST, FIRST)
        + turn(at + timedelta(milliseconds=40), FIRST, FIRST)
        + turn(at + timedelta(milliseconds=50), TOTAL, SECOND)
    )


def wrapper_python() -> str:
    text = TEMPLATE.read_text()
    start = text.index("<<'PY' || true\n") + len("<<'PY' || true\n")
    return text[start : text.index("\nPY\n", start)]


@pytest.fixture
def cdx(tmp_path, monkeypatch):
    """The wrapper's Python half, loaded from the template, on a HOME of its own."""
    home = tmp_path / "home"
    (home / ".codex" / "sessions" / "2026" / "11" / "29").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.delenv("TOKENFLEET_STATE_DIR", raising=False)
    monkeypatch.setenv("CDX_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CDX_FQDN", "claims.e2e.test")
    monkeypatch.setenv("CDX_WRAPPER_VERSION", "test")
    monkeypatch.setenv("CDX_PID", str(os.getpid()))
    namespace: dict = {"__name__": "cdx_under_test"}
    exec(compile(wrapper_python(), str(TEMPLATE), "exec"), namespace)
    namespace["log"] = lambda text: None
    folder = home / ".codex" / "sessions" / "2026" / "11" / "29"
    return SimpleNamespace(
        fn=namespace,
        home=home,
        log=lambda session_id: folder / f"rollout-2026-11-29T17-00-00-{session_id}.jsonl",
        claims=home / ".local" / "state" / "tokenfleet" / "claims",
        queue=home / ".local" / "state" / "tokenfleet" / "usage-queue.jsonl",
    )


def open_run(cdx, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    cdx.fn["claim_open"](str(run_dir))
    return run_dir


def close_run(cdx, run_dir: Path, lines: list[str]) -> tuple[list, list, dict]:
    """What cmd_post decides: entries, claimed ranges, and the claim as the collector reads it."""
    path, claim = cdx.fn["run_claim"](str(run_dir))
    sessions = cdx.fn["run_sessions"](claim["sizes"])
    entries, ranges = cdx.fn["usage_entries"](lines, sessions, "", "run")
    cdx.fn["claim_close"](path, claim, ranges)
    return entries, ranges, json.loads(Path(path).read_text())


@pytest.mark.parametrize("older_first", [True, False], ids=["older-first", "newer-first"])
def test_it_claims_the_log_this_run_wrote_not_one_that_ended_a_moment_before(
    cdx, tmp_path, older_first
):
    # The flake: the previous run's log ended 1 s before this run opened its claim, with the
    # same totals. A window of ±2 s made both candidates and the walk order chose; the older
    # one lost the run's own session to the collector, which counted its turns again.
    now = datetime.now(UTC)
    cdx.log(OLD).write_text(run_of_codex(now - timedelta(seconds=1), OLD))
    walk = cdx.fn["session_files"]
    cdx.fn["session_files"] = lambda: sorted(walk(), reverse=not older_first)
    run_dir = open_run(cdx, tmp_path)
    cdx.log(NEW).write_text(run_of_codex(now, NEW))

    entries, ranges, claim = close_run(cdx, run_dir, [LINE])

    size = cdx.log(NEW).stat().st_size
    assert ranges == [{"session": NEW, "from": 0, "to": size, "id": "run-0"}]
    assert claim["sessions"] == [NEW] and claim["ranges"] == ranges and "sizes" not in claim
    assert entries == [{"id": "run-0", "line": LINE, "model": "gpt-5.1-codex"}]


def test_it_claims_only_what_a_resumed_session_grew_by(cdx, tmp_path):
    now = datetime.now(UTC)
    earlier = opening(now - timedelta(hours=3), NEW) + turn(now - timedelta(hours=3), FIRST, FIRST)
    cdx.log(NEW).write_text(earlier)
    run_dir = open_run(cdx, tmp_path)
    with cdx.log(NEW).open("a") as handle:  # `codex resume` appends to the same log
        handle.write(turn(now, TOTAL, SECOND))

    # Codex printed this run's part, or (older builds) the running total: either way the entry
    # carries this run's part and the claim starts where the log stood before the run.
    _path, claim = cdx.fn["run_claim"](str(run_dir))
    sessions = cdx.fn["run_sessions"](claim["sizes"])
    claimed = {"session": NEW, "from": len(earlier), "to": cdx.log(NEW).stat().st_size, "id": "r-0"}
    for line in (SECOND_LINE, LINE):
        entries, ranges = cdx.fn["usage_entries"]([line], sessions, "", "r")
        assert ranges == [claimed]
    assert (entries[0]["input"], entries[0]["cached"], entries[0]["output"]) == (2000, 1000, 334)


def test_it_claims_nothing_when_codex_wrote_no_log(cdx, tmp_path):
    now = datetime.now(UTC)
    cdx.log(OLD).write_text(run_of_codex(now - timedelta(milliseconds=200), OLD))
    run_dir = open_run(cdx, tmp_path)
    entries, ranges, claim = close_run(cdx, run_dir, [LINE])
    assert ranges == [] and claim["sessions"] == []
    assert [entry["line"] for entry in entries] == [LINE]  # reported by cdx alone


def test_it_gives_a_run_it_could_not_report_back_to_the_collector(cdx, tmp_path):
    now = datetime.now(UTC)
    run_dir = open_run(cdx, tmp_path)
    cdx.log(NEW).write_text(run_of_codex(now, NEW))
    cdx.log(OLD).write_text("")  # no token counts: its line is cdx's only record
    entries, ranges, _claim = close_run(cdx, run_dir, [LINE, SECOND_LINE])
    assert [part["id"] for part in ranges] == ["run-0"]
    cdx.fn["queue_add"](entries)

    cdx.fn["usage_release"]({"run-0"})  # the server did not take them

    claim = json.loads(next(cdx.claims.glob("*.json")).read_text())
    assert claim["ranges"] == [] and claim["sessions"] == []
    queued = [json.loads(line)["id"] for line in cdx.queue.read_text().splitlines()]
    assert queued == ["run-1"]  # the line no session log holds waits for a later run
    claims = collect.Claims(str(cdx.claims))
    assert not claims.claimed(NEW, 0, now)


def test_it_keeps_a_claim_whose_line_another_run_delivered(cdx, tmp_path):
    now = datetime.now(UTC)
    run_dir = open_run(cdx, tmp_path)
    cdx.log(NEW).write_text(run_of_codex(now, NEW))
    entries, ranges, _claim = close_run(cdx, run_dir, [LINE])
    cdx.fn["queue_add"](entries)
    cdx.fn["api"] = lambda method, path, body=None, timeout=15: {"recorded": 1}
    cdx.fn["queue_flush"]()  # a concurrent cdx run delivered it before this one gave up
    assert not cdx.queue.exists()

    cdx.fn["usage_release"]({"run-0"})

    claim = json.loads(next(cdx.claims.glob("*.json")).read_text())
    assert claim["ranges"] == ranges


def test_it_queues_and_closes_the_claim_before_a_ctrl_c_stops_it(cdx):
    # Stopped between the two, the line would be queued (sent later) while the claim stayed
    # open with a dead pid (the collector counts the turns): counted twice.
    done = []
    with pytest.raises(KeyboardInterrupt), cdx.fn["uninterrupted"]():
        os.kill(os.getpid(), signal.SIGINT)
        done.append("queued")
        done.append("claim closed")
    assert done == ["queued", "claim closed"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- the collector's side -------------------------------------------------------------------


def write_claim(directory: Path, name: str, claim: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(claim))


NOW = datetime.now(UTC).replace(microsecond=0)
AT = NOW - timedelta(hours=1)


def test_collector_skips_exactly_the_claimed_bytes(tmp_path):
    write_claim(
        tmp_path,
        "run",
        {
            "pid": 1,
            "start": stamp(AT),
            "end": stamp(AT + timedelta(seconds=30)),
            "sessions": [NEW],
            "ranges": [{"session": NEW, "from": 500, "to": 900, "id": "r-0"}],
        },
    )
    claims = collect.Claims(str(tmp_path))
    inside = AT + timedelta(seconds=10)
    assert [claims.claimed(NEW, offset, inside) for offset in (499, 500, 899, 900)] == [
        False,
        True,
        True,
        False,
    ]
    assert not claims.claimed(OLD, 500, inside)
    # The range decides, not the clock: a claimed line far outside the run's window is skipped.
    assert claims.claimed(NEW, 600, AT - timedelta(days=2))


def test_collector_counts_a_released_claim(tmp_path):
    write_claim(
        tmp_path,
        "released",
        {
            "pid": 1,
            "start": stamp(AT),
            "end": stamp(AT + timedelta(seconds=30)),
            "sessions": [],
            "ranges": [],
        },
    )
    claims = collect.Claims(str(tmp_path))
    assert not claims.claimed(NEW, 0, AT + timedelta(seconds=10))


def test_collector_holds_back_what_an_open_run_may_still_claim(tmp_path):
    write_claim(
        tmp_path,
        "open",
        {"pid": os.getpid(), "start": stamp(AT), "end": None, "sizes": {OLD: 700}},
    )
    write_claim(  # a run that died unclosed: its turns are the collector's
        tmp_path,
        "dead",
        {"pid": 2**22 + 1, "start": stamp(AT), "end": None, "sizes": {NEW: 0, OLD: 0}},
    )
    claims = collect.Claims(str(tmp_path))
    early = AT - timedelta(hours=5)  # a clock that disagrees changes nothing
    assert [claims.open_at(OLD, offset, early) for offset in (699, 700)] == [False, True]
    assert claims.open_at(NEW, 0, early)  # a log the run may have started
    assert not claims.claimed(OLD, 700, AT)


def test_collector_reads_claims_of_cdx_before_ranges_by_their_window(tmp_path):
    start, end = AT, AT + timedelta(seconds=30)
    write_claim(
        tmp_path,
        "legacy",
        {"pid": 1, "start": stamp(start), "end": stamp(end), "sessions": [NEW.upper()]},
    )
    write_claim(tmp_path, "legacy-open", {"pid": os.getpid(), "start": stamp(end), "end": None})
    claims = collect.Claims(str(tmp_path))
    slack = collect.CLAIM_SLACK
    edge = timedelta(milliseconds=1)
    assert [
        claims.claimed(NEW, 0, moment)
        for moment in (start - slack - edge, start - slack, end + slack, end + slack + edge)
    ] == [False, True, True, False]
    assert claims.open_at(OLD, 0, end - slack)
    assert not claims.open_at(OLD, 0, end - slack - edge)


def test_collector_waits_while_cdx_is_still_sending_its_lines(tmp_path):
    claim = {
        "pid": os.getpid(),
        "start": stamp(AT),
        "end": stamp(AT + timedelta(seconds=30)),
        "sessions": [NEW],
        "ranges": [{"session": NEW, "from": 100, "to": 400, "id": "r-0"}],
        "delivering": True,
    }
    write_claim(tmp_path, "sending", claim)
    claims = collect.Claims(str(tmp_path))
    # Not skipped yet (cdx may give the range back), not counted either: held.
    assert claims.open_at(NEW, 100, AT) and not claims.claimed(NEW, 100, AT)
    assert not claims.open_at(NEW, 400, AT) and not claims.open_at(NEW, 99, AT)
    # cdx died while sending: its lines stay queued for its next run, so the range is cdx's.
    write_claim(tmp_path, "sending", {**claim, "pid": 2**22 + 1})
    claims = collect.Claims(str(tmp_path))
    assert claims.claimed(NEW, 100, AT) and not claims.open_at(NEW, 100, AT)


def test_collector_reads_no_further_than_the_logs_reached_before_it_read_the_claims(
    tmp_path, monkeypatch
):
    # The race: the collector read the claims, then a cdx run opened its claim and Codex wrote
    # a turn, then the collector read the log. Reading that turn would count it twice.
    codex_home = tmp_path / ".codex"
    folder = codex_home / "sessions" / "2026" / "11" / "29"
    folder.mkdir(parents=True)
    log = folder / f"rollout-2026-11-29T17-00-00-{NEW}.jsonl"
    earlier = opening(AT, NEW) + turn(AT, FIRST, FIRST)
    log.write_text(earlier)
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "no-claude"))
    state_dir = tmp_path / "state"
    real_claims = collect.Claims

    def claims_then_a_cdx_run(directory: str):
        found = real_claims(directory)
        write_claim(  # what cdx and Codex do meanwhile
            Path(directory),
            "run",
            {"pid": os.getpid(), "start": stamp(NOW), "end": None, "sizes": {NEW: len(earlier)}},
        )
        with log.open("a") as handle:
            handle.write(turn(NOW, TOTAL, SECOND))
        return found

    monkeypatch.setattr(collect, "Claims", claims_then_a_cdx_run)
    collector = collect.Collector(None, str(state_dir), settle=0, log=lambda text: None)  # type: ignore[arg-type]
    groups = collector.groups({"claude": {}, "codex": {}})

    assert [(len(records), commit[2]["offset"]) for records, commit in groups] == [
        (1, len(earlier))
    ]
    monkeypatch.setattr(collect, "Claims", real_claims)
    again = collector.groups({"claude": {}, "codex": {NEW: groups[0][1][2]}})
    assert again == []  # the new turn waits for the run, which holds it


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_collector_tells_the_run_from_a_later_process_with_its_pid(cdx, tmp_path):
    started = cdx.fn["process_start"](os.getpid())
    assert started is not None and started == collect.process_start(os.getpid())
    claim = {"pid": os.getpid(), "start": stamp(AT), "end": None, "sizes": {NEW: 10}}
    write_claim(tmp_path, "open", {**claim, "pid_start": started})
    assert collect.Claims(str(tmp_path)).open_at(NEW, 10, AT)
    # The cdx that opened it died and its pid went to another process: nothing is held.
    write_claim(tmp_path, "open", {**claim, "pid_start": started - 1})
    assert not collect.Claims(str(tmp_path)).open_at(NEW, 10, AT)
