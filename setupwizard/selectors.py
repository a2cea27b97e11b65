"""Reads of the setup state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from setupwizard.models import SetupState


@dataclass(frozen=True)
class SetupStatus:
    complete: bool
    scenario: str | None
    infra: str | None
    completed_at: datetime | None
    headless: bool


def setup_status() -> SetupStatus:
    """The wizard's outcome (not complete while no row exists) and the HEADLESS setting."""
    state = SetupState.objects.filter(pk=SetupState.SINGLETON_PK).first()
    if state is None:
        state = SetupState()
    return SetupStatus(
        complete=state.complete,
        scenario=state.scenario or None,
        infra=state.infra or None,
        completed_at=state.completed_at if state.complete else None,
        headless=settings.HEADLESS,
    )
