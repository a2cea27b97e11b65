"""`python -m config.bootstrap` (the first step of `make run`): generates each missing secret once
into DATA_DIR, reuses it afterwards, leaves environment-provided ones alone, and says which."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from config import bootstrap as bootstrap_module
from config.bootstrap import ensure_secret

ROOT = Path(__file__).resolve().parent.parent


def bootstrap(data_dir: Path, **variables: str) -> str:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATA_DIR": str(data_dir)}
    environment.update(variables)
    result = subprocess.run(
        [sys.executable, "-m", "config.bootstrap"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    return result.stderr


def test_it_generates_the_secrets_once_and_says_so(tmp_path):
    data_dir = tmp_path / "data"
    first = bootstrap(data_dir)
    assert f"generated SECRET_KEY and kept it in {data_dir / 'secret_key'}" in first
    assert f"generated FIELD_ENCRYPTION_KEY and kept it in {data_dir / 'field_encryption_key'}" in (
        first
    )
    secret_key = (data_dir / "secret_key").read_text().strip()
    fernet_key = (data_dir / "field_encryption_key").read_text().strip()
    assert len(secret_key) >= 50
    Fernet(fernet_key)  # a valid key, or this raises
    for name in ("secret_key", "field_encryption_key"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600

    second = bootstrap(data_dir)
    assert "generated" not in second
    assert f"using the SECRET_KEY kept in {data_dir / 'secret_key'}" in second
    assert (data_dir / "secret_key").read_text().strip() == secret_key
    assert (data_dir / "field_encryption_key").read_text().strip() == fernet_key


def test_it_leaves_a_secret_from_the_environment_alone(tmp_path):
    output = bootstrap(tmp_path, SECRET_KEY="given", FIELD_ENCRYPTION_KEY_FILE="/run/fernet")
    assert "SECRET_KEY comes from the environment" in output
    assert "FIELD_ENCRYPTION_KEY comes from the environment" in output
    assert sorted(os.listdir(tmp_path)) == []


def test_it_reuses_an_existing_secret_file(tmp_path):
    (tmp_path / "secret_key").write_text("already-there\n")
    assert ensure_secret("SECRET_KEY", tmp_path) == ("already-there", False)


def test_it_keeps_the_first_writer_when_two_starts_race(tmp_path, monkeypatch):
    """The other process writes the file between our look and our write: its secret wins."""
    (tmp_path / "secret_key").write_text("written-by-the-other-process\n")
    real = bootstrap_module.read_kept_secret
    looks = []

    def look(name, folder):
        looks.append(name)
        return None if len(looks) == 1 else real(name, folder)  # the first look sees nothing

    monkeypatch.setattr(bootstrap_module, "read_kept_secret", look)
    assert ensure_secret("SECRET_KEY", tmp_path) == ("written-by-the-other-process", False)
    assert len(looks) == 2  # it went as far as writing, then read the winner's file
    assert sorted(os.listdir(tmp_path)) == ["secret_key"]  # no temporary file left behind
