from __future__ import annotations

from django.db import models
from django.utils import timezone


class Scenario(models.TextChoices):
    SOLO = "solo", "Solo"
    TEAM = "team", "Team"
    ORG = "org", "Organisation"


class Infra(models.TextChoices):
    SINGLE_NODE = "single-node", "Single node"
    DOCKER_COMPOSE = "docker-compose", "Docker Compose"
    KUBERNETES = "kubernetes", "Kubernetes"
    HEADLESS = "headless", "Headless (API only)"


class SetupState(models.Model):
    """The outcome of the setup wizard: one row (pk 1) once the wizard has been completed.

    `POST /api/setup/reset` deletes the row; the status then reads as not complete.
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


class SetupCode(models.Model):
    """The one-time code that lets the first visitor of a fresh install create the first admin.

    One row (pk 1), kept in the database so every worker and server checks the same code; only
    its SHA-256 is stored, the plaintext goes to the server log once. `used_at` is set when the
    first admin has been created with it.
    """

    SINGLETON_PK = 1

    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "setup code"

    def __str__(self) -> str:
        return "setup code (used)" if self.used_at else "setup code"
