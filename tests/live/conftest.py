"""Fixtures for tests against real servers. Every server a test starts is stopped after it."""

from __future__ import annotations

import pytest

from tests.live.pushpin import PublishPortTaken, PushpinFront, grip_url, pushpin_required
from tests.live.server import LiveServer, free_port, run_manage, server_database, server_env


@pytest.fixture(scope="session")
def live_database(tmp_path_factory):
    """A migrated database for the servers (not pytest-django's), shared by the live tests."""
    tmp = tmp_path_factory.mktemp("live-db")
    with server_database(tmp) as url:
        run_manage(server_env(tmp, url), "migrate", "--noinput")
        yield url


@pytest.fixture
def live_env(live_database, tmp_path):
    """Environment for servers and helper processes; add settings with `live_env.update`."""
    return server_env(tmp_path, live_database, SSE_MIN_INTERVAL_MS="200")


@pytest.fixture
def start_server(live_env, tmp_path):
    """`start_server(workers=0, uvicorn_workers=1, **env)` → a running LiveServer, stopped after
    the test. `workers` > 0 serves with gunicorn and `config/gunicorn.conf.py`, as `make run`."""
    servers: list[LiveServer] = []

    def start(workers: int = 0, uvicorn_workers: int = 1, **env: str) -> LiveServer:
        server = LiveServer(
            env={**live_env, **env},
            log_path=tmp_path / f"server-{len(servers)}.log",
            workers=workers,
            uvicorn_workers=uvicorn_workers,
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_pushpin(live_env, tmp_path):
    """`start_pushpin(workers=1, threads=4, **env)` → Pushpin in front of gunicorn's threaded
    WSGI worker (GRIP_URL set for both), as `make run-production`; `.origin` is gunicorn."""
    pushpin_required()
    started: list[LiveServer] = []

    def start(workers: int = 1, threads: int = 4, **env: str) -> PushpinFront:
        for attempt in range(3):
            index = len(started)
            environment = {**live_env, "GRIP_URL": grip_url(free_port()), **env}
            origin = LiveServer(
                env=environment,
                log_path=tmp_path / f"gunicorn-{index}.log",
                workers=workers,
                threads=threads,
            )
            started.append(origin)
            origin.start()
            front = PushpinFront(
                env=environment,
                log_path=tmp_path / f"pushpin-{index}.log",
                origin=origin,
                folder=tmp_path / f"pushpin-{index}",
            )
            started.append(front)
            try:
                return front.start()
            except PublishPortTaken:
                # Another process took the chosen port before Pushpin bound it: fresh ports.
                origin.stop()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    yield start
    for server in reversed(started):
        server.stop()
