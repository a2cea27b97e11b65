"""Zero-setup secrets: `python -m config.bootstrap` (the first step of `make run`).

With DEBUG off, settings refuse to start without `SECRET_KEY` and `FIELD_ENCRYPTION_KEY`. For the
zero-setup case this module generates each one once into a file in `DATA_DIR` (mode 0600) and
says so; settings then read the kept file, so `make run` and every later `manage.py` command use
the same secrets. A value given in the environment (`NAME` or `NAME_FILE`) always wins and no
file is written for it. This module must not import Django settings: it runs before they can load.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import os
import secrets
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from config.env import env

ROOT = Path(__file__).resolve().parent.parent

GENERATORS: dict[str, Callable[[], str]] = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    # A Fernet key is 32 random bytes, url-safe base64.
    "FIELD_ENCRYPTION_KEY": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
}


def data_dir() -> Path:
    """`DATA_DIR`, default `<project>/data`, as an absolute path."""
    return Path(env.str("DATA_DIR", default=str(ROOT / "data"))).expanduser().absolute()


def secret_path(name: str, folder: Path) -> Path:
    return folder / name.lower()


def read_kept_secret(name: str, folder: Path) -> str | None:
    """The secret kept in `folder` by an earlier start, or None."""
    try:
        value = secret_path(name, folder).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def ensure_secret(
    name: str, folder: Path, generator: Callable[[], str] | None = None
) -> tuple[str, bool]:
    """The kept secret, generated first when there is none; returns (value, generated)."""
    kept = read_kept_secret(name, folder)
    if kept is not None:
        return kept, False
    # Private when we create it: it also holds the SQLite database.
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = secret_path(name, folder)
    temporary = folder / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write((generator or GENERATORS[name])() + "\n")
    try:
        # link() fails when another process won the race; then its secret is the one to use.
        os.link(temporary, path)
        generated = True
    except FileExistsError:
        generated = False
    finally:
        temporary.unlink()
    value = read_kept_secret(name, folder)
    if value is None:
        raise RuntimeError(f"{path} is empty; delete it and start again.")
    return value, generated


def provided_by_environment(name: str) -> bool:
    return bool(os.environ.get(name) or os.environ.get(f"{name}_FILE"))


def print_new_secrets() -> None:
    """`--print`: a fresh value for each secret as `NAME=value` lines (an env file's format), for
    an operator to put into /etc/tokenfleet/env or a secrets store. Writes nothing."""
    for name, generate in GENERATORS.items():
        print(f"{name}={generate()}")


def public_url_for_bind(bind: str) -> str:
    """`make run`'s PUBLIC_BASE_URL when none is set: the http URL of a gunicorn BIND (HOST,
    HOST:PORT, [IPv6]:PORT). A wildcard address means this machine's name; a Unix socket or an
    inherited descriptor has no URL of its own, so "" (settings then warn, accounts.W006)."""
    bind = bind.strip()
    if not bind or bind.startswith(("unix:", "fd://")):
        return ""
    if bind.startswith("["):
        host, _, rest = bind[1:].partition("]")
        port = rest.removeprefix(":") or "8000"
    elif bind.count(":") == 1:
        host, port = bind.split(":")
    else:
        host, port = bind, "8000"
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 (recognised, not bound)
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def settings_or_exit() -> ModuleType:
    """Imports config.settings; a configuration mistake (a missing secret with DEBUG off, a value
    that does not parse) is one line on stderr and exit status 2, not a traceback."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        return importlib.import_module("config.settings")
    except ImproperlyConfigured as exc:
        print(f"tokenfleet: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m config.bootstrap",
        description="Without options: keep SECRET_KEY and FIELD_ENCRYPTION_KEY in DATA_DIR "
        "(generated once) unless the environment provides them.",
    )
    parser.add_argument(
        "--print",
        action="store_true",
        dest="print_secrets",
        help="print a fresh SECRET_KEY and FIELD_ENCRYPTION_KEY (NAME=value) and write nothing",
    )
    parser.add_argument(
        "--public-url",
        metavar="BIND",
        help="print the PUBLIC_BASE_URL that `make run` uses for this gunicorn --bind",
    )
    options = parser.parse_args(argv)
    if options.print_secrets:
        print_new_secrets()
        return 0
    if options.public_url is not None:
        print(public_url_for_bind(options.public_url))
        return 0
    folder = data_dir()
    for name in GENERATORS:
        if provided_by_environment(name):
            print(f"tokenfleet: {name} comes from the environment", file=sys.stderr)
            continue
        _value, generated = ensure_secret(name, folder)
        path = secret_path(name, folder)
        if generated:
            print(
                f"tokenfleet: generated {name} and kept it in {path} (reused on every start)",
                file=sys.stderr,
            )
        else:
            print(f"tokenfleet: using the {name} kept in {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
