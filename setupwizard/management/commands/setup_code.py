"""`manage.py setup_code`: print a fresh one-time setup code (the earlier one stops working)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from setupwizard import services


class Command(BaseCommand):
    help = "Print a new one-time setup code for the browser wizard at /setup/ (fresh install only)."

    def handle(self, *args, **options):
        try:
            code = services.setup_code_issue(reason="manage.py setup_code", actor="system:cli")
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"setup code: {code} (enter it at /setup/; the previous code is void)")
