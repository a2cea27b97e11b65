"""Synthetic Claude Code transcripts and Codex session logs of exactly the shapes in FORMATS.md,
with the traps it lists, and the records a correct reader makes of them."""

from __future__ import annotations

import json
from pathlib import Path

SESSION = "4f1a9b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b"
PARENT = "01a1f83c-da20-7c41-9e2a-5b6c7d8e9f01"
FORK = "0199aa11-2233-7445-8667-8899aabbccdd"


def compact(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"))


def assistant(
    message_id: str,
    request_id: str | None,
    ts: str,
    *,
    input_tokens: int = 292,
    output_tokens: int = 1045,
    cache_write: int = 5000,
    cache_write_1h: int = 2500,
    cache_read: int = 8271,
    model: str = "claude-sonnet-4-5-20250929",
) -> str:
    line = {
        "parentUuid": "p",
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/dev/proj",
        "sessionId": "s",
        "version": "2.1.3",
        "type": "assistant",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": "…"}],
            "stop_reason": None,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": cache_write,
                "cache_read_input_tokens": cache_read,
                "output_tokens": output_tokens,
                "cache_creation": {
                    "ephemeral_5m_input_tokens": cache_write - cache_write_1h,
                    "ephemeral_1h_input_tokens": cache_write_1h,
                },
                "service_tier": "standard",
            },
        },
        "uuid": "u",
        "timestamp": ts,
    }
    if request_id is not None:
        line["requestId"] = request_id
    return compact(line)


def user_line(ts: str) -> str:
    return compact({"type": "user", "message": {"role": "user", "content": "hi"}, "timestamp": ts})


def write_claude(home: Path) -> dict[str, dict]:
    """Transcripts under ~/.claude/projects and ~/.config/claude/projects; returns the expected
    records by message id: input, cache writes (1 h part), cache read, output."""
    main = home / ".claude" / "projects" / "-home-dev-proj" / "sess-1.jsonl"
    sub = home / ".claude" / "projects" / "-home-dev-proj" / "sess-1" / "subagents"
    nested = sub / "agent-a" / "subagents" / "agent-b.jsonl"
    other = home / ".config" / "claude" / "projects" / "-home-dev-other" / "sess-2.jsonl"
    for path in (main, nested, other):
        path.parent.mkdir(parents=True, exist_ok=True)
    (sub / "agent-a.jsonl").parent.mkdir(parents=True, exist_ok=True)
    # One response as three lines (one per content block) with growing output: keep the largest.
    main.write_text(
        "\n".join(
            [
                user_line("2026-11-20T07:00:00.000Z"),
                assistant("msg_01A", "req_01A", "2026-11-20T07:00:00.123Z", output_tokens=10),
                assistant("msg_01A", "req_01A", "2026-11-20T07:00:00.200Z", output_tokens=1045),
                assistant("msg_01A", "req_01A", "2026-11-20T07:00:00.300Z", output_tokens=500),
                assistant("msg_01B", None, "2026-11-20T07:01:00.000Z", cache_write_1h=0),
                assistant("msg_synth", "req_x", "2026-11-20T07:02:00.000Z", model="<synthetic>"),
                "not json at all",
                user_line("2026-11-20T07:03:00.000Z"),
            ]
        )
        + "\n"
        # Still being written: no newline yet.
        + assistant("msg_01C", "req_01C", "2026-11-20T07:04:00.000Z")[:80]
    )
    (sub / "agent-a.jsonl").write_text(
        assistant("msg_SUB1", "req_S1", "2026-11-20T07:00:30.000Z", input_tokens=5) + "\n"
    )
    nested.write_text(
        assistant("msg_SUB2", "req_S2", "2026-11-20T07:00:40.000Z", input_tokens=6) + "\n"
    )
    other.write_text(
        assistant("msg_02A", "req_02A", "2026-11-21T08:00:00.000Z", input_tokens=7) + "\n"
    )
    return {
        "msg_01A:req_01A": {"input": 292, "cc": 5000, "cc1h": 2500, "read": 8271, "out": 1045},
        "msg_01B": {"input": 292, "cc": 5000, "cc1h": 0, "read": 8271, "out": 1045},
        "msg_SUB1:req_S1": {"input": 5, "cc": 5000, "cc1h": 2500, "read": 8271, "out": 1045},
        "msg_SUB2:req_S2": {"input": 6, "cc": 5000, "cc1h": 2500, "read": 8271, "out": 1045},
        "msg_02A:req_02A": {"input": 7, "cc": 5000, "cc1h": 2500, "read": 8271, "out": 1045},
    }


def finish_claude(home: Path) -> dict[str, dict]:
    """The half-written line completes: one more message appears."""
    main = home / ".claude" / "projects" / "-home-dev-proj" / "sess-1.jsonl"
    text = main.read_text()
    cut = text.rsplit("\n", 1)[0] + "\n"
    main.write_text(cut + assistant("msg_01C", "req_01C", "2026-11-20T07:04:00.000Z") + "\n")
    return {"msg_01C:req_01C": {"input": 292, "cc": 5000, "cc1h": 2500, "read": 8271, "out": 1045}}


def usage(inp: int, cached: int, out: int, reasoning: int, total: int | None = None) -> dict:
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": inp + out if total is None else total,
    }


def codex_event(ts: str, kind: str, payload: dict) -> str:
    return compact({"timestamp": ts, "type": kind, "payload": payload})


def token_count(ts: str, total: dict | None, last: dict | None = None) -> str:
    info = None
    if total is not None:
        info = {"total_token_usage": total, "model_context_window": 272000}
        if last is not None:
            info["last_token_usage"] = last
    return codex_event(ts, "event_msg", {"type": "token_count", "info": info, "rate_limits": None})


def meta(ts: str, session_id: str, **extra) -> str:
    payload = {
        "id": session_id,
        "timestamp": ts,
        "cwd": "/home/dev/proj",
        "originator": "codex_cli_rs",
        "cli_version": "0.63.0",
        "source": "cli",
        "model_provider": "openai",
        **extra,
    }
    return codex_event(ts, "session_meta", payload)


def turn(ts: str, model: str) -> str:
    return codex_event(ts, "turn_context", {"cwd": "/home/dev/proj", "model": model})


def write_codex(codex_home: Path) -> list[dict]:
    """A session with every trap: info null, repeated counters, a compaction estimate, a model
    switch, a restart (total going down), a half-written last line; plus a fork whose copied
    burst is a baseline. Returns the expected records (input is non-cached)."""
    day = codex_home / "sessions" / "2026" / "11" / "20"
    day.mkdir(parents=True, exist_ok=True)
    first = usage(18500, 12000, 900, 512)
    second_last = usage(3000, 1000, 334, 100)
    second = {k: first[k] + second_last[k] for k in first}
    restart = usage(400, 0, 50, 0)
    lines = [
        meta("2026-11-20T09:15:00.000Z", SESSION),
        turn("2026-11-20T09:15:04.210Z", "gpt-5.1-codex"),
        token_count("2026-11-20T09:15:04.800Z", None),  # rate limits only
        token_count("2026-11-20T09:15:19.533Z", first, first),
        token_count("2026-11-20T09:15:20.000Z", first, first),  # rate-limit refresh: same counter
        codex_event("2026-11-20T09:16:00.000Z", "response_item", {"type": "message"}),
        token_count("2026-11-20T09:16:10.000Z", first, usage(0, 0, 0, 0, 9000)),  # compaction
        turn("2026-11-20T09:17:00.000Z", "gpt-5.1-codex-mini"),
        token_count("2026-11-20T09:17:30.000Z", second, second_last),
        codex_event("2026-11-20T09:17:31.000Z", "brand_new_type", {"x": 1}),  # unknown: skipped
        token_count("2026-11-21T10:00:00.000Z", restart, restart),  # restart: new baseline
    ]
    path = day / f"rollout-2026-11-20T09-15-00-{SESSION}.jsonl"
    path.write_text("\n".join(lines) + "\n" + token_count("2026-11-21T10:05:00.000Z", None)[:40])

    fork_total = usage(500, 100, 60, 10)
    fork_lines = [
        meta("2026-11-22T12:00:00.000Z", FORK, forked_from_id=PARENT),
        # The parent's lines, copied verbatim and stamped at the fork time: a baseline only.
        meta("2026-11-22T12:00:00.100Z", PARENT),
        turn("2026-11-22T12:00:00.200Z", "gpt-5.1-codex"),
        token_count("2026-11-22T12:00:00.300Z", second, second_last),
        # The child's own turn continues the parent's totals.
        turn("2026-11-22T12:01:00.000Z", "gpt-5.1-codex"),
        token_count(
            "2026-11-22T12:01:10.000Z",
            {k: second[k] + fork_total[k] for k in second},
            fork_total,
        ),
    ]
    fork_dir = codex_home / "sessions" / "2026" / "11" / "22"
    fork_dir.mkdir(parents=True, exist_ok=True)
    (fork_dir / f"rollout-2026-11-22T12-00-00-{FORK}.jsonl").write_text(
        "\n".join(fork_lines) + "\n"
    )
    return [
        {"session": SESSION, "model": "gpt-5.1-codex", "input": 6500, "read": 12000, "out": 900,
         "reasoning": 512, "ts": "2026-11-20T09:15:19.533Z"},
        {"session": SESSION, "model": "gpt-5.1-codex-mini", "input": 2000, "read": 1000,
         "out": 334, "reasoning": 100, "ts": "2026-11-20T09:17:30.000Z"},
        {"session": SESSION, "model": "gpt-5.1-codex-mini", "input": 400, "read": 0, "out": 50,
         "reasoning": 0, "ts": "2026-11-21T10:00:00.000Z"},
        {"session": FORK, "model": "gpt-5.1-codex", "input": 400, "read": 100, "out": 60,
         "reasoning": 10, "ts": "2026-11-22T12:01:10.000Z"},
    ]  # fmt: skip


def archive_codex(codex_home: Path) -> None:
    """`codex` archives the session: the file moves (name kept) to archived_sessions/."""
    source = next((codex_home / "sessions").rglob(f"*{SESSION}.jsonl"))
    target = codex_home / "archived_sessions" / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    source.rename(target)
