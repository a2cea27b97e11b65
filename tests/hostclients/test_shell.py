"""`bash -n` and shellcheck on every shell file of the repository, and on the baked scripts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from hosts.delivery.installer import installer_script
from hosts.keys import key_generate
from hosts.wrapper.bake import bake

ROOT = Path(__file__).resolve().parents[2]
SHEBANGS = (b"#!/usr/bin/env bash", b"#!/bin/bash", b"#!/bin/sh", b"#!/usr/bin/env sh")


def shell_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    found = []
    for name in listed:
        path = ROOT / name
        if not path.is_file() or ".venv" in path.parts:
            continue
        with path.open("rb") as handle:
            head = handle.readline().strip()
        if head in SHEBANGS:
            found.append(path)
    return sorted(found)


def baked(tmp_path: Path) -> list[Path]:
    host = SimpleNamespace(fqdn="lint.example.com")
    cdx = tmp_path / "cdx"
    cdx.write_bytes(bake(host=host))
    install = tmp_path / "install.sh"
    install.write_bytes(installer_script(fqdn=host.fqdn, api_key=key_generate()))
    return [cdx, install]


def test_it_finds_the_shell_files():
    names = {path.relative_to(ROOT).as_posix() for path in shell_files()}
    assert {"hosts/wrapper/cdx.template", "hosts/delivery/install.template", ".ci/run"} <= names


@pytest.mark.django_db
def test_every_shell_file_parses(tmp_path, settings):
    settings.PUBLIC_BASE_URL = "https://fleet.example.com"
    for path in shell_files() + baked(tmp_path):
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{path}: {result.stderr}"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck (Debian) not installed")
@pytest.mark.django_db
def test_shellcheck_finds_nothing(tmp_path, settings):
    settings.PUBLIC_BASE_URL = "https://fleet.example.com"
    paths = [str(path) for path in shell_files() + baked(tmp_path)]
    result = subprocess.run(
        ["shellcheck", "--shell=bash", "--severity=style", *paths],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
