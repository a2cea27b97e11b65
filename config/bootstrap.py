"""Zero-setup secrets: `python -m config.bootstrap` (the first step of `make run`).

With DEBUG off, settings refuse to start without `SECRET_KEY` and `FIELD_ENCRYPTION_KEY`. For the
zero-setup case this module generates each one once into a file in `DATA_DIR` (mode 0600) and
says so; settings then read the kept file, so `make run` and every later `manage.py` command use
the same secrets. A value given in the environment (`NAME` or `NAME_FILE`) always wins and no
file is written for it. This module must not import Django settings: it runs before they can load.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

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


def ensure_secret(name: str, folder: Path) -> tuple[str, bool]:
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
        handle.write(GENERATORS[name]() + "\n")
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


def main() -> int:
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
