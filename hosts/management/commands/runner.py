"""`manage.py runner [--once]`: the fleet's periodic work (see hosts.runner).

A loop: every RUNNER_POLL_SECONDS it runs the steps that are due or requested, each under its
claim. SIGTERM or SIGINT stops it between steps. `--once` runs one cycle (every due step) and
prints its record. `--parent-pid PID` ends the loop once PID is no longer its parent (`make run`
passes the shell that then becomes gunicorn, so the runner goes when the server goes).
"""

from __future__ import annotations

import os
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from hosts.runner.engine import LOOP, ONCE, cycle_run, runner_id


class Command(BaseCommand):
    help = "Run the fleet's periodic steps (quota, login check, client version, prices, ...)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--once", action="store_true", help="Run one cycle and exit.")
        parser.add_argument(
            "--force", action="store_true", help="With --once: run every step, due or not."
        )
        parser.add_argument(
            "--parent-pid",
            type=int,
            default=None,
            help="Stop once this process is no longer the parent (used by `make run`).",
        )

    def handle(self, *args, **options) -> None:
        if options["once"]:
            cycle = cycle_run(trigger=ONCE, force=options["force"])
            self.stdout.write(self._line(cycle))
            return
        stop = threading.Event()

        def request_stop(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        # Given by the caller, not read here: the parent may already be gone by the time
        # Django has started, and the runner must not outlive it then either.
        parent = options["parent_pid"]
        me = runner_id()
        self.stdout.write(f"runner {me}: polling every {settings.RUNNER_POLL_SECONDS} s")
        self.stdout.flush()
        while not stop.is_set():
            if parent is not None and os.getppid() != parent:
                break
            if not connection.in_atomic_block:
                # A long-lived process: drop connections past their age or broken by a restart.
                close_old_connections()
            try:
                cycle = cycle_run(trigger=LOOP, runner=me, should_stop=stop.is_set)
            except Exception as exc:  # the database may be away for a moment; try again later
                self.stderr.write(f"runner: cycle failed: {type(exc).__name__}: {exc}")
                cycle = None
            if cycle is not None and options["verbosity"] >= 1:
                self.stdout.write(self._line(cycle))
                self.stdout.flush()  # a pipe (journald) would hold the line back otherwise
            stop.wait(settings.RUNNER_POLL_SECONDS)
        self.stdout.write(f"runner {me}: stopped")

    @staticmethod
    def _line(cycle) -> str:
        parts = [
            f"{entry['step']}={entry['outcome']}"
            for entry in cycle.steps
            if entry["outcome"] not in ("not_due", "disabled")
        ]
        return f"runner: {cycle.trigger} cycle {cycle.outcome}: {' '.join(parts) or 'nothing due'}"
