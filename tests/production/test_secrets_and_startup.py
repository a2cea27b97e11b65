"""Production start-up: `python -m config.bootstrap --print` makes the two secrets by hand, a
missing one is one clear line (manage.py and gunicorn alike), and `make run` derives
PUBLIC_BASE_URL from BIND."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet

from config.bootstrap import public_url_for_bind
from tests.production.served import BIN, ROOT


def run(args: list[str], tmp_path, **variables: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DATA_DIR": str(tmp_path / "data"),
    }
    environment.update(variables)
    return subprocess.run(
        args, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=30
    )


def test_it_prints_fresh_secrets_and_writes_nothing(tmp_path):
    first = run([sys.executable, "-m", "config.bootstrap", "--print"], tmp_path)
    second = run([sys.executable, "-m", "config.bootstrap", "--print"], tmp_path)
    assert first.returncode == 0 and first.stderr == ""
    values = dict(line.split("=", 1) for line in first.stdout.splitlines())
    assert sorted(values) == ["FIELD_ENCRYPTION_KEY", "SECRET_KEY"]
    assert len(values["SECRET_KEY"]) >= 50 and len(set(values["SECRET_KEY"])) >= 5
    Fernet(values["FIELD_ENCRYPTION_KEY"])  # a valid key, or this raises
    assert first.stdout != second.stdout
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_it_stops_manage_py_with_one_line_when_a_secret_is_missing(tmp_path, missing):
    given = {"SECRET_KEY": "x" * 60, "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    del given[missing]
    result = run([str(BIN / "python"), "manage.py", "check"], tmp_path, **given)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"tokenfleet: {missing} is required when DEBUG is off")
    assert "python -m config.bootstrap --print" in lines[0]


def test_it_stops_gunicorn_with_one_line_when_a_secret_is_missing(tmp_path):
    result = run(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.conf.py", "--bind", "127.0.0.1:0"],
        tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if line.startswith("tokenfleet: ")
    ]
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


def test_it_reports_a_value_it_cannot_read_in_one_line_too(tmp_path):
    result = run(
        [str(BIN / "python"), "manage.py", "check"],
        tmp_path,
        SECRET_KEY="x" * 60,
        FIELD_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        DEBUG="ture",
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "tokenfleet: DEBUG='ture' is not a boolean; use one of true/false, yes/no, on/off, 1/0."
    ]


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("192.0.2.10:9000", "http://192.0.2.10:9000"),
        ("localhost", "http://localhost:8000"),
        ("[::1]:8001", "http://[::1]:8001"),
        ("[2001:db8::1]", "http://[2001:db8::1]:8000"),
        ("0.0.0.0:8000", f"http://{socket.getfqdn()}:8000"),
        ("[::]:8000", f"http://{socket.getfqdn()}:8000"),
        ("unix:/run/tokenfleet/gunicorn.sock", ""),
        ("fd://3", ""),
    ],
)
def test_it_derives_the_public_url_from_bind(bind, url):
    assert public_url_for_bind(bind) == url


def fake_venv(tmp_path):
    """A VENV whose python and gunicorn record the PUBLIC_BASE_URL they were started with (the
    real python still answers `--public-url`), so `make run` runs without serving anything."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    log = tmp_path / "started"
    for name in ("python", "gunicorn"):
        script = venv / "bin" / name
        script.write_text(
            "#!/bin/sh\n"
            f'case "$*" in *--public-url*) exec {BIN / "python"} "$@";; esac\n'
            f'echo "{name} $1 $PUBLIC_BASE_URL" >> {log}\n'
        )
        script.chmod(0o755)
    (venv / ".installed").touch()
    return venv, log


@pytest.mark.parametrize(
    ("bind", "given", "expected"),
    [
        ("127.0.0.1:8123", None, "http://127.0.0.1:8123"),
        ("192.0.2.10:9000", None, "http://192.0.2.10:9000"),
        ("127.0.0.1:8123", "https://fleet.example.com", "https://fleet.example.com"),
    ],
)
def test_make_run_derives_the_public_url_from_bind_unless_one_is_set(
    tmp_path, bind, given, expected
):
    venv, log = fake_venv(tmp_path)
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    if given:
        environment["PUBLIC_BASE_URL"] = given
    result = subprocess.run(
        ["make", "-s", "run", f"VENV={venv}", f"BIND={bind}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    started = log.read_text().splitlines()
    assert {line.rsplit(" ", 1)[1] for line in started} == {expected}
    assert any(line.startswith("gunicorn ") for line in started)
