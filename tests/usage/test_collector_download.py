"""GET /api/ingest/collector: the tokenfleet-collect program for host installers."""

from __future__ import annotations

import hashlib
import subprocess
import sys

from usage.collector import SOURCE_PATH, collector_source


def test_it_serves_the_collector_with_its_digest(client_for, alice_ingest_token, tmp_path):
    response = client_for(alice_ingest_token).get("/api/ingest/collector")

    assert response.status_code == 200
    assert response.content == collector_source() == SOURCE_PATH.read_bytes()
    assert response["X-SHA256"] == hashlib.sha256(response.content).hexdigest()
    assert response["Content-Type"].startswith("text/x-python")
    program = tmp_path / "tokenfleet-collect"
    program.write_bytes(response.content)
    version = subprocess.run(
        [sys.executable, str(program), "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.startswith("tokenfleet-collect ")


def test_it_needs_an_ingest_credential(client_for, read_token):
    assert client_for(None).get("/api/ingest/collector").status_code == 401
    assert client_for(read_token).get("/api/ingest/collector").status_code == 403
