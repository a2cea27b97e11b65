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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.live.server import PYTHON, ROOT, LiveServer, SseClient

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
        """Ready when a publish sent to GRIP_URL's port reaches a stream this Pushpin holds.

        Why not less: the publish port is chosen (free_port) seconds before Pushpin binds it,
        while the origin starts, and on a shared machine another process can bind it in that
        window. Pushpin's handler then starts anyway, without a word at any log level, and its
        publishes go to the other process: if that is another test's Pushpin, `/publish/`
        answers 200 and only the streams stay silent. So the check is the round trip itself,
        and a port some other process holds is reported as PublishPortTaken (the fixture then
        starts again on fresh ports) instead of being waited on."""
        super().start()
        publish_port = urlsplit(self.env["GRIP_URL"]).port
        assert publish_port is not None
        deadline = time.monotonic() + 30
        while True:
            owner = port_owner(publish_port, self.process_ids())
            if owner == "other":
                self.stop()
                raise PublishPortTaken(
                    f"another process listens on the publish port {publish_port}"
                )
            if owner == "ours" and self.publish_reaches_a_stream(publish_port):
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(
                    f"no publish reached a stream held by Pushpin in 30 s:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def process_ids(self) -> set[int]:
        assert self.process is not None
        return process_tree(self.process.pid)

    def publish_reaches_a_stream(self, publish_port: int) -> bool:
        """Hold a stream (Pushpin's own kind of follow-up: a signed es-meta, so no credential
        is needed whatever USAGE_API_PUBLIC says), publish an SSE comment carrying a nonce to
        its channel, and read it back. A comment: a stream of a test opened later never sees
        it, and an EventSource would ignore it anyway."""
        import jwt

        claims = {"iss": "es", "exp": int(time.time()) + 60, "channels": ["totals"]}
        es_meta = jwt.encode({**claims, "user": "anonymous"}, self.env["SECRET_KEY"])
        nonce = f"ready-{uuid.uuid4().hex}"
        try:
            stream = SseClient(
                self.port, f"/api/usage/stream?link=next&es-meta={es_meta}", timeout=2
            )
        except (OSError, http.client.HTTPException):
            return False
        try:
            if stream.status != 200:
                return False
            # The handler subscribes to the channel as it takes the stream over; a publish
            # before that reaches nobody, so publish until one arrives (or a second passes).
            until = time.monotonic() + 1.0
            while time.monotonic() < until:
                publish_comment(publish_port, nonce)
                with contextlib.suppress(TimeoutError):
                    while True:
                        frame = stream.next_frame(timeout=0.2)
                        if nonce in frame.comments:
                            return True
            return False
        except (OSError, http.client.HTTPException):
            return False
        finally:
            stream.close()


class PublishPortTaken(AssertionError):
    """Another process bound the publish port between its choice and Pushpin's start."""


def publish_comment(port: int, text: str) -> None:
    item = {"channel": "events-totals", "formats": {"http-stream": {"content": f": {text}\n\n"}}}
    request = urllib.request.Request(  # noqa: S310 (loopback)
        f"http://127.0.0.1:{port}/publish/",
        data=json.dumps({"items": [item]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=2):  # noqa: S310
        pass


def process_tree(pid: int) -> set[int]:
    """pid and its descendants (Pushpin's runner starts condure, zurl, proxy and handler)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found = {pid}
    grew = True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in found and child not in found:
                found.add(child)
                grew = True
    return found


def port_owner(port: int, pids: set[int]) -> str | None:
    """Who listens on 127.0.0.1:`port`: "ours" (one of `pids`), "other", or None (nobody yet).
    Read from /proc: the listening socket's inode, and which process holds a descriptor of it."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    if not inodes:
        return None
    held = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for descriptor in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    held.add(os.readlink(descriptor))
    return "ours" if inodes <= held else "other"
