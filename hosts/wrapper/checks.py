"""System check: PUBLIC_BASE_URL must be bakeable into the cdx wrapper and installer scripts."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register

from hosts.wrapper.bake import base_url_error


@register(Tags.compatibility)
def check_public_base_url_bakeable(app_configs=None, **kwargs):
    value = str(settings.PUBLIC_BASE_URL).rstrip("/")
    problem = base_url_error(value)
    if problem is None:
        return []
    return [
        Error(
            f"PUBLIC_BASE_URL {value!r} cannot be baked into the cdx wrapper: {problem}",
            hint="Use the plain address hosts reach the server at, e.g. "
            "https://fleet.example.com or https://example.com/tokenfleet.",
            id="hosts.E010",
        )
    ]
