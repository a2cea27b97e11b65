"""The runner as a process, as `make run` starts it: SIGTERM stops it cleanly, and with
`--parent-pid` it ends once the process that started it (gunicorn, after the recipe's `exec`)
is gone, even when that happens before Django has finished starting. A fresh SQLite database;
every upstream points at a closed local port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CLOSED = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def environment(tmp_path_factory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("runner")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data),
        "DATA_DIR": str(data / "data"),
        "SECRET_KEY": "runner-process-test-secret-key-0123456789abcdef",
        "FIELD_ENCRYPTION_KEY": "bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s=",
        "CHATGPT_BASE_URL": CLOSED,
        "CODEX_RELEASES_URL": CLOSED,
        "PRICING_URL": CLOSED,
        "RUNNER_POLL_SECONDS": "0.2",
    }
    result = subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return env


def wait_for(path: Path, text: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        content = path.read_text()
        if text in content:
            return content
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not in:\n{path.read_text()}")


def test_sigterm_stops_the_loop_between_steps(environment, tmp_path):
    log = tmp_path / "runner.log"
    with open(log, "w") as out:
        runner = subprocess.Popen(
            [PYTHON, "manage.py", "runner"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(log, "loop cycle", time.monotonic() + 60)
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 0
        assert log.read_text().rstrip().endswith("stopped")
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)


def test_it_ends_with_the_process_that_started_it(environment, tmp_path):
    log = tmp_path / "runner.log"
    # As the Makefile does: the runner in the background, then `exec` of the server (here a
    # short sleep standing in for gunicorn).
    script = f"{PYTHON} manage.py runner --parent-pid $$ >{log} 2>&1 & exec sleep 3"
    parent = subprocess.Popen(
        ["/bin/sh", "-c", script], cwd=ROOT, env=environment, start_new_session=True
    )
    try:
        assert parent.wait(timeout=30) == 0
        wait_for(log, "stopped", time.monotonic() + 30)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
        # The runner shares the group; nothing of it may be left behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(parent.pid, signal.SIGKILL)
    assert "polling every 0.2 s" in log.read_text()
