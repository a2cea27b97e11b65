from __future__ import annotations

from django.db import models
from django.utils import timezone


class EmbedOrigin(models.Model):
    """A web origin (`scheme://host[:port]`, normalised) allowed to embed live totals."""

    origin = models.CharField(max_length=255, unique=True)
    label = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["origin"]

    def __str__(self) -> str:
        return self.origin
