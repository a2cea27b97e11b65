"""The host collector `tokenfleet-collect`: one stdlib-only Python file served to hosts.

`tokenfleet_collect.py` is the program itself (the installer saves it as `tokenfleet-collect`);
this package only reads it for `GET /api/ingest/collector`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

SOURCE_PATH = Path(__file__).with_name("tokenfleet_collect.py")


@lru_cache(maxsize=1)
def _source_for(path: Path, mtime_ns: int) -> bytes:
    return path.read_bytes()


def collector_source() -> bytes:
    """The collector's bytes (re-read when the file changes)."""
    return _source_for(SOURCE_PATH, SOURCE_PATH.stat().st_mtime_ns)
