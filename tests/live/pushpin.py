"""Pushpin in front of a real gunicorn (threaded WSGI worker), as `make run-production` runs it.

Pushpin's configuration comes from `python -m config.pushpin write`, the generator deploy/ and
`make run-production` use, with every port free and every socket in the test's own directory.
Without the `pushpin` binary the tests that need it are skipped, unless TOKENFLEET_REQUIRE_PUSHPIN
is set (CI installs Debian's package and sets it, so a missing Pushpin fails there).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.live.server import PYTHON, ROOT, LiveServer

PUSHPIN = shutil.which("pushpin")


def pushpin_required() -> None:
    if PUSHPIN is None:
        if os.environ.get("TOKENFLEET_REQUIRE_PUSHPIN"):
            pytest.fail("pushpin is not installed (apt-get install pushpin)")
        pytest.skip("pushpin is not installed (apt-get install pushpin)")


def grip_url(publish_port: int) -> str:
    return f"http://127.0.0.1:{publish_port}?iss=pushpin&key=test-grip-key-{os.getpid()}-0123456789abcdef"


@dataclass
class PushpinFront(LiveServer):
    """Pushpin on its own free port, routing to `origin`; `request`/`stream` go through it."""

    origin: LiveServer | None = None
    folder: Path = field(default_factory=Path)

    def command(self) -> list[str]:
        assert self.origin is not None and PUSHPIN is not None
        subprocess.run(
            [
                PYTHON,
                "-m",
                "config.pushpin",
                "write",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--origin",
                f"127.0.0.1:{self.origin.port}",
                "--dir",
                str(self.folder),
                "--log-level",
                "1",
            ],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        return [PUSHPIN, "--config", str(self.folder / "pushpin.conf"), "--merge-output"]

    def start(self) -> PushpinFront:
        """Ready when it forwards (/health through it) and its handler takes publishes: a stream
        held before the handler is up answers 500."""
        super().start()
        publish = urlsplit(self.env["GRIP_URL"])
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError):
                request = urllib.request.Request(  # noqa: S310 (loopback)
                    f"http://127.0.0.1:{publish.port}/publish/",
                    data=json.dumps({"items": []}).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
                    if response.status == 200 and self._holds_a_stream():
                        return self
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"Pushpin took no publish in 30 s:\n{self.log_tail()}")
            time.sleep(0.1)

    def _holds_a_stream(self) -> bool:
        """A held stream answers 200: Pushpin's own kind of follow-up (a signed es-meta, so no
        credential is needed whatever USAGE_API_PUBLIC says), closed at once."""
        import jwt

        claims = {"iss": "es", "exp": int(time.time()) + 60, "channels": ["totals"]}
        es_meta = jwt.encode({**claims, "user": "anonymous"}, self.env["SECRET_KEY"])
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            connection.request("GET", f"/api/usage/stream?link=next&es-meta={es_meta}")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
