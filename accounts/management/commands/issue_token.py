"""Issue an API token; the plaintext is printed alone on the last line."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Scope
from accounts.services import token_issue
from core.errors import ApplicationError
from core.time import TimeValueError, parse_time


class Command(BaseCommand):
    help = "Issue a scoped API token and print its plaintext (shown once) on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, help="user label the token acts for")
        parser.add_argument("--scope", required=True, choices=Scope.values)
        parser.add_argument("--label", default="")
        parser.add_argument("--expires", default=None, help="ISO 8601 expiry (future)")

    def handle(
        self, *args: Any, user: str, scope: str, label: str, expires: str | None, **options: Any
    ) -> None:
        expires_at = None
        if expires:
            try:
                expires_at = parse_time(expires)
            except TimeValueError:
                raise CommandError(f"--expires {expires!r} is not an ISO 8601 time.") from None
        try:
            token, plaintext = token_issue(
                user=user, scope=scope, label=label, expires_at=expires_at, actor="cli:issue_token"
            )
        except ApplicationError as exc:
            detail = "; ".join(f"{key}: {value}" for key, value in exc.fields.items())
            raise CommandError(f"{exc.message} {detail}".strip()) from None
        self.stdout.write(
            f"Issued {scope} token #{token.pk} for {user}"
            + (f", expires {token.expires_at.isoformat()}" if token.expires_at else "")
            + ". It is shown only now:"
        )
        self.stdout.write(plaintext)
