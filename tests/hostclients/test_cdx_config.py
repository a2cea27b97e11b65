"""cdx keeps Codex on file-based credentials: the top-level `cli_auth_credentials_store = "file"`
in `~/.codex/config.toml`, every other setting, comment and table byte for byte as it was.

The wrapper's Python half is loaded from the template and its function called directly, once as
it runs on Python 3.11+ (the edit checked with tomllib) and once as on 3.9/3.10 (no tomllib: the
scanner alone decides)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "hosts" / "wrapper" / "cdx.template"
KEY = "cli_auth_credentials_store"


def wrapper_python() -> str:
    text = TEMPLATE.read_text()
    start = text.index("<<'PY' || true\n") + len("<<'PY' || true\n")
    return text[start : text.index("\nPY\n", start)]


@pytest.fixture(params=["tomllib", "scanner-only"])
def cdx(request, tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".codex").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CODEX_HOME", str(home / ".codex"))
    monkeypatch.setenv("CDX_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CDX_FQDN", "config.e2e.test")
    monkeypatch.setenv("CDX_WRAPPER_VERSION", "test")
    namespace: dict = {"__name__": "cdx_under_test"}
    exec(compile(wrapper_python(), str(TEMPLATE), "exec"), namespace)
    if request.param == "scanner-only":
        namespace["toml_checked"] = lambda old, new: None
    logged: list[str] = []
    namespace["log"] = logged.append
    config = home / ".codex" / "config.toml"
    return SimpleNamespace(run=namespace["ensure_file_credentials"], config=config, logged=logged)


CASES = {
    "top-level keys and tables: a new line after the last top-level key": (
        '# my Codex settings\nmodel = "gpt-5.1-codex"\napproval_policy = "on-request"\n\n'
        '# the work profile\n[profiles.work]\nmodel = "o3"\n',
        '# my Codex settings\nmodel = "gpt-5.1-codex"\napproval_policy = "on-request"\n'
        f'{KEY} = "file"\n\n# the work profile\n[profiles.work]\nmodel = "o3"\n',
    ),
    "another value is replaced, its comment kept": (
        f'model = "o3"\n{KEY} = "keyring"   # set by me\n\n[tui]\nnotifications = true\n',
        f'model = "o3"\n{KEY} = "file"   # set by me\n\n[tui]\nnotifications = true\n',
    ),
    "a quoted key with a literal string": (
        f'"{KEY}" = \'auto\'\n[mcp_servers.docs]\ncommand = "npx"\n',
        f'"{KEY}" = "file"\n[mcp_servers.docs]\ncommand = "npx"\n',
    ),
    "the key inside a table is left alone": (
        f'[profiles.keyring]\n{KEY} = "keyring"\n',
        f'{KEY} = "file"\n[profiles.keyring]\n{KEY} = "keyring"\n',
    ),
    "comments only, then a table: the line goes first": (
        '# header comment\n\n[shell_environment_policy]\ninherit = "core"\n',
        f'{KEY} = "file"\n# header comment\n\n[shell_environment_policy]\ninherit = "core"\n',
    ),
    "a multi-line string holding lines that look like a table and the key": (
        f'instructions = """\n[not_a_table]\n{KEY} = "keyring"\n"""\n[tui]\nx = 1\n',
        f'instructions = """\n[not_a_table]\n{KEY} = "keyring"\n"""\n'
        f'{KEY} = "file"\n[tui]\nx = 1\n',
    ),
    "a multi-line literal string ending in quotes": (
        "notes = '''\n[x]\n'''''\nmodel = \"o3\"\n",
        f"notes = '''\n[x]\n'''''\nmodel = \"o3\"\n{KEY} = \"file\"\n",
    ),
    "an array over several lines whose lines start with [": (
        "matrix = [\n  [1, 2],  # first row\n  [3, 4],\n]\n[tui]\nx = 1\n",
        f'matrix = [\n  [1, 2],  # first row\n  [3, 4],\n]\n{KEY} = "file"\n[tui]\nx = 1\n',
    ),
    "an inline table and a string with # and = in it": (
        'env = { PATH = "/usr/bin", X = "a#b=c" }  # trailing\nmodel = "o3"',
        f'env = {{ PATH = "/usr/bin", X = "a#b=c" }}  # trailing\nmodel = "o3"\n{KEY} = "file"\n',
    ),
    "CRLF line ends": (
        'model = "o3"\r\n\r\n[tui]\r\nx = 1\r\n',
        f'model = "o3"\r\n{KEY} = "file"\r\n\r\n[tui]\r\nx = 1\r\n',
    ),
    "an empty file": ("", f'{KEY} = "file"\n'),
}


@pytest.mark.parametrize("before, after", CASES.values(), ids=CASES.keys())
def test_it_sets_the_key_and_keeps_every_other_setting(cdx, before, after):
    cdx.config.write_bytes(before.encode())
    cdx.config.chmod(0o644)

    cdx.run()

    text = cdx.config.read_bytes().decode()
    assert text == after
    assert tomllib.loads(text) == {**tomllib.loads(before), KEY: "file"}
    assert oct(cdx.config.stat().st_mode & 0o777) == "0o644"


def test_a_missing_file_is_created_private(cdx):
    cdx.run()

    assert cdx.config.read_text() == f'{KEY} = "file"\n'
    assert oct(cdx.config.stat().st_mode & 0o777) == "0o600"
    assert cdx.logged == []


def test_a_file_that_already_says_file_is_not_touched(cdx):
    cdx.config.write_text(f"model = 'o3'\n{KEY} = 'file' # ok\n")
    before = cdx.config.stat()

    cdx.run()

    assert cdx.config.read_text() == f"model = 'o3'\n{KEY} = 'file' # ok\n"
    assert cdx.config.stat().st_ino == before.st_ino  # not even rewritten
    assert cdx.logged == []


def test_a_replaced_value_is_reported(cdx):
    cdx.config.write_text(f'{KEY} = "keyring"\n')

    cdx.run()

    assert cdx.logged == [f'set {KEY} = "file" in {cdx.config} (was "keyring")']


def test_a_file_it_cannot_follow_is_left_alone_with_a_warning(cdx):
    broken = 'model = "o3\n[tui]\n'
    cdx.config.write_text(broken)

    cdx.run()

    assert cdx.config.read_text() == broken
    (line,) = cdx.logged
    assert line.startswith(f"left {cdx.config} as it is (")
    assert line.endswith(f'make sure it sets {KEY} = "file"')


def test_a_symlinked_config_stays_a_symlink(cdx, tmp_path):
    dotfiles = tmp_path / "dotfiles"
    dotfiles.mkdir()
    target = dotfiles / "codex.toml"
    target.write_text('model = "o3"\n')
    os.symlink(target, cdx.config)

    cdx.run()

    assert cdx.config.is_symlink()
    assert target.read_text() == f'model = "o3"\n{KEY} = "file"\n'
