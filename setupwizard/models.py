from __future__ import annotations

from django.db import models


class SetupState(models.Model):
    """The outcome of the setup wizard: one row (pk 1) once the wizard has been completed.

    Until the browser wizard exists nothing writes it, and the status reads as not complete.
    """

    SINGLETON_PK = 1

    complete = models.BooleanField(default=False)
    scenario = models.CharField(max_length=100, null=True, blank=True)
    infra = models.CharField(max_length=100, null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "setup state"

    def __str__(self) -> str:
        return "setup complete" if self.complete else "setup not complete"
