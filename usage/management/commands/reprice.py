"""`manage.py reprice --since ISO [--until ISO]`: re-rate stored records and their rollups."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.time import TimeValueError, parse_time
from usage.services import pricing as services


class Command(BaseCommand):
    help = (
        "Re-rate records with ts in [--since, --until) at the prices now in the table, updating "
        "the rollups in the same transaction, one chunk at a time. Safe to rerun."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", required=True, help="ISO 8601 start (inclusive).")
        parser.add_argument("--until", help="ISO 8601 end (exclusive); default: no end.")
        parser.add_argument("--chunk-size", type=int, default=2000, help="Records per transaction.")

    def handle(self, *args, **options) -> None:
        since = self._when(options["since"], "--since")
        until = self._when(options["until"], "--until") if options["until"] else None
        if until is not None and until <= since:
            raise CommandError("reprice: --until must be after --since")
        if options["chunk_size"] < 1:
            raise CommandError("reprice: --chunk-size must be positive")
        summary = services.records_reprice(
            since=since, until=until, chunk_size=options["chunk_size"], actor="command"
        )
        self.stdout.write(summary.line())

    @staticmethod
    def _when(value: str, name: str):
        try:
            return parse_time(value)
        except TimeValueError:
            raise CommandError(f"reprice: {name} is not an ISO 8601 time") from None
