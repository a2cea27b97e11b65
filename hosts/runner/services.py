"""The runner's one admin write: run a cycle here and now, audited with who asked."""

from __future__ import annotations

from accounts.services import audit_record
from hosts.models import RunnerCycle
from hosts.runner import engine


def runner_run_now(
    *, force: bool = False, only: list[str] | None = None, actor: str, ip: str | None = None
) -> RunnerCycle:
    """One manual cycle (due steps; every step with `force`; the named ones with `only`),
    recorded and audited as `runner.run`. `POST /admin/runner/run` and the dashboard call this."""
    cycle = engine.cycle_run(
        trigger=engine.MANUAL, runner=engine.manual_runner(actor), force=force, only=only
    )
    assert cycle is not None  # only loop cycles that ran nothing go unrecorded
    audit_record(
        action="runner.run",
        actor=actor,
        ip=ip,
        meta={"cycle_id": cycle.pk, "outcome": cycle.outcome, "force": force, "steps": only},
    )
    return cycle
