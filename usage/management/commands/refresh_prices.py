"""`manage.py refresh_prices [--url URL | --file PATH]`: import model prices, checked row by row."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from core.errors import ApplicationError
from usage.services import pricing as services


class Command(BaseCommand):
    help = (
        "Import model prices from PRICING_URL, --url or --file (LiteLLM's "
        "model_prices_and_context_window.json or the simple per-1k shape). Rows that fail the "
        "sanity checks are skipped and reported; nothing else is touched."
    )

    def add_arguments(self, parser) -> None:
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--url", help="Fetch from this URL instead of PRICING_URL.")
        source.add_argument("--file", help="Read a local JSON file instead of fetching.")

    def handle(self, *args, **options) -> None:
        try:
            if options["file"]:
                payload = self._read(Path(options["file"]))
                summary = services.prices_import(
                    payload=payload, source=f"file:{Path(options['file']).name}", actor="command"
                )
            else:
                summary = services.prices_refresh(
                    url=options["url"] or settings.PRICING_URL, actor="command"
                )
        except (ApplicationError, ValueError) as error:
            raise CommandError(f"refresh_prices: {error}") from None
        if options["verbosity"] >= 2:
            for model, reason in summary.skipped:
                self.stderr.write(f"skipped {model}: {reason}")
        source = options["file"] or services.url_label(options["url"] or settings.PRICING_URL)
        self.stdout.write(summary.line(source))

    @staticmethod
    def _read(path: Path):
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"refresh_prices: cannot read {path}: {error.strerror}") from None
        except ValueError:
            raise CommandError(f"refresh_prices: {path} is not valid JSON") from None
