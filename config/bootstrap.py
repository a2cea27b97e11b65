"""Zero-setup secrets for `make run`.

Runs before Django is configured (settings refuse to start without `SECRET_KEY` and
`FIELD_ENCRYPTION_KEY` when DEBUG is off), so it uses only the standard library. Each secret is
generated once into the data directory and reused; a value already in the environment wins.
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

GENERATED = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "FIELD_ENCRYPTION_KEY": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
}


def data_dir() -> Path:
    root = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("DATA_DIR") or root / "data")


def main() -> int:
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name, make in GENERATED.items():
        if os.environ.get(name) or os.environ.get(f"{name}_FILE"):
            continue
        path = folder / name.lower()
        if not path.exists():
            path.write_text(make() + "\n")
            path.chmod(0o600)
            print(f"tokenfleet: generated {name} and kept it in {path}", file=sys.stderr)
        else:
            print(f"tokenfleet: using {name} from {path}", file=sys.stderr)
        lines.append(f'export {name}_FILE="${{{name}_FILE:-{path}}}"')
    env_file = folder / "runtime.env"
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
