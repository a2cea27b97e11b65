"""Apply the audit retention: delete events older than AUDIT_RETENTION_DAYS (or --days)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.services import audit_prune
from core.errors import ApplicationError


class Command(BaseCommand):
    help = "Delete audit events older than AUDIT_RETENTION_DAYS; prints a one-line summary."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="keep this many days instead of AUDIT_RETENTION_DAYS",
        )

    def handle(self, *args: Any, days: int | None, **options: Any) -> None:
        keep = settings.AUDIT_RETENTION_DAYS if days is None else days
        try:
            deleted = audit_prune(older_than_days=keep)
        except ApplicationError as exc:
            raise CommandError(
                f"--days: {exc.fields.get('older_than_days', exc.message)}"
            ) from None
        self.stdout.write(f"prune_audit: deleted {deleted} audit event(s) older than {keep} days")
