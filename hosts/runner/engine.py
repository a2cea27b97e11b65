"""The runner's engine: steps, the claim rule, cycles and their records.

A step runs when it is due (`next_due_at` passed) or requested (`requested_at` set), and only
in the runner whose conditional UPDATE claimed it: the UPDATE matches the step's row only while
no live lease holds it, so of two runners (or two servers) exactly one runs it. The lease
(`claimed_until`) outlives any step (upstream calls are bounded by UPSTREAM_TIMEOUT_SECONDS), so a
runner that died mid-step only delays the step until its lease ends.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from core.time import iso
from hosts.models import RunnerCycle, RunnerStep

logger = logging.getLogger("tokenfleet.runner")

LEASE = timedelta(minutes=10)
CYCLES_KEPT = timedelta(days=30)
# A request that finds a value due asks for a refresh at most this often per process/cache.
REQUEST_DEDUPE_SECONDS = 30

# Step outcomes
OK = "ok"
FAILED = "failed"
SKIPPED = "skipped"  # ran, found nothing to do
NOT_DUE = "not_due"
CLAIMED_ELSEWHERE = "claimed_elsewhere"
DISABLED = "disabled"
STOPPED = "stopped"

# Triggers
LOOP = "loop"
ONCE = "once"
MANUAL = "manual"


@dataclass(frozen=True)
class StepResult:
    outcome: str  # OK, FAILED or SKIPPED
    detail: str
    next_due_at: datetime


@dataclass(frozen=True)
class Step:
    name: str
    description: str
    run: Callable[[datetime], StepResult] | None  # None: a slot not implemented yet

    @property
    def enabled(self) -> bool:
        return self.run is not None


def manual_runner(actor: str) -> str:
    """The runner name a manual run records: the admin who asked, within the column's length."""
    return f"admin:{actor}"[:100]


def runner_id() -> str:
    """Names a runner in claims and records: host, pid and a per-call suffix."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def steps() -> list[Step]:
    from hosts.runner.steps import STEPS

    return STEPS


def steps_ensure(now: datetime | None = None) -> None:
    """A row per enabled step (new steps are due at once)."""
    now = now or timezone.now()
    RunnerStep.objects.bulk_create(
        [RunnerStep(name=step.name, next_due_at=now) for step in steps() if step.enabled],
        ignore_conflicts=True,
    )


def step_request(name: str, *, now: datetime | None = None) -> None:
    """Ask the runner to run `name` early. Cheap enough for a request path: a cache key keeps it
    to one UPDATE per step per REQUEST_DEDUPE_SECONDS, and the UPDATE only writes when no request
    is pending."""
    if not cache.add(f"runner:requested:{name}", 1, timeout=REQUEST_DEDUPE_SECONDS):
        return
    step_request_now(name, now=now)


def step_request_now(name: str, *, now: datetime | None = None) -> None:
    """As `step_request`, without the dedupe (a new canonical login must never be dropped)."""
    now = now or timezone.now()
    if RunnerStep.objects.filter(name=name, requested_at__isnull=True).update(requested_at=now):
        return
    # Already requested, or no row yet (rows come with the migration; a flushed table loses them).
    RunnerStep.objects.bulk_create(
        [RunnerStep(name=name, next_due_at=now, requested_at=now)], ignore_conflicts=True
    )


def _claimable(now: datetime) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)


def _due(now: datetime) -> Q:
    return Q(next_due_at__lte=now) | Q(requested_at__isnull=False)


def step_claim(name: str, *, runner: str, now: datetime, force: bool = False) -> bool:
    """The claim rule: one conditional UPDATE; True for the single caller whose UPDATE matched."""
    rows = RunnerStep.objects.filter(name=name).filter(_claimable(now))
    if not force:
        rows = rows.filter(_due(now))
    return (
        rows.update(
            claimed_by=runner,
            claimed_until=now + LEASE,
            last_started_at=now,
            runs=F("runs") + 1,
        )
        == 1
    )


def step_release(name: str, *, runner: str, started_at: datetime, result: StepResult) -> None:
    """Record the outcome and the next due time; a request newer than the start stays pending."""
    RunnerStep.objects.filter(name=name, claimed_by=runner).update(
        claimed_by="",
        claimed_until=None,
        last_finished_at=timezone.now(),
        last_outcome=result.outcome,
        last_detail=result.detail[:500],
        next_due_at=result.next_due_at,
        requested_at=Case(
            When(requested_at__lte=started_at, then=Value(None)), default=F("requested_at")
        ),
    )


def due_step_names(now: datetime) -> set[str]:
    """Steps due or requested and not held by a live lease (one query: the idle loop's cost)."""
    return set(
        RunnerStep.objects.filter(_due(now)).filter(_claimable(now)).values_list("name", flat=True)
    )


def _run_one(step: Step, *, runner: str, force: bool) -> dict:
    now = timezone.now()
    entry = {"step": step.name, "outcome": "", "detail": "", "started_at": iso(now)}
    if not step_claim(step.name, runner=runner, now=now, force=force):
        entry.update(outcome=CLAIMED_ELSEWHERE, finished_at=iso(now))
        return entry
    run = step.run
    assert run is not None  # disabled steps are skipped before they are claimed
    try:
        result = run(now)
    except Exception as exc:  # one failing step must not stop the others
        logger.exception("runner step %s crashed", step.name)
        result = StepResult(FAILED, f"internal error: {type(exc).__name__}", now + LEASE)
    step_release(step.name, runner=runner, started_at=now, result=result)
    entry.update(outcome=result.outcome, detail=result.detail, finished_at=iso(timezone.now()))
    return entry


def cycle_run(
    *,
    trigger: str,
    runner: str | None = None,
    force: bool = False,
    only: list[str] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunnerCycle | None:
    """Run every due step once (every step with `force`; only the named ones with `only`).

    Returns the cycle's record. A loop cycle in which nothing was due is not recorded (None).
    """
    runner = runner or runner_id()
    started = timezone.now()
    steps_ensure(started)
    due = due_step_names(started)
    entries: list[dict] = []
    stopped = False
    for step in steps():
        if only is not None and step.name not in only:
            continue
        if not step.enabled:
            entries.append({"step": step.name, "outcome": DISABLED, "detail": step.description})
            continue
        if not (force or only is not None) and step.name not in due:
            entries.append({"step": step.name, "outcome": NOT_DUE, "detail": ""})
            continue
        if should_stop is not None and should_stop():
            stopped = True
            break
        entries.append(_run_one(step, runner=runner, force=force or only is not None))
    ran = [entry for entry in entries if entry["outcome"] in (OK, FAILED, SKIPPED)]
    if stopped:
        outcome = STOPPED
    elif any(entry["outcome"] == FAILED for entry in ran):
        outcome = FAILED
    elif ran:
        outcome = OK
    else:
        outcome = "idle"
    if trigger == LOOP and not ran:
        return None
    return RunnerCycle.objects.create(
        trigger=trigger,
        runner=runner,
        started_at=started,
        finished_at=timezone.now(),
        outcome=outcome,
        steps=entries,
    )


def cycles_prune(now: datetime) -> int:
    deleted, _ = RunnerCycle.objects.filter(started_at__lt=now - CYCLES_KEPT).delete()
    return deleted
