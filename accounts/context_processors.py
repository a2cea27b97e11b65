"""Template context every HTML page shares: the dashboard navigation and the setup nudge."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from accounts.dashboard_access import is_dashboard_user

# (URL name, label). Pages that do not exist yet (names that do not resolve) are left out.
NAV = (
    ("dashboard:overview", "Overview"),
    ("dashboard:usage", "Usage"),
    ("dashboard:hosts", "Hosts"),
    ("dashboard:auth", "Canonical auth"),
    ("dashboard:slash", "Slash commands"),
    ("dashboard:quota", "Quota"),
    ("dashboard:tokens", "API tokens"),
    ("dashboard:embed", "Embed origins"),
    ("dashboard:audit", "Audit log"),
    ("dashboard:runner", "Runner"),
    ("dashboard:settings", "Settings"),
)


def _nav_links(urlconf: str | None) -> list[tuple[str, str, str]]:
    links = []
    for name, label in NAV:
        try:
            links.append((name, label, reverse(name, urlconf=urlconf)))
        except NoReverseMatch:
            continue
    return links


# Detail pages light up the section they belong to.
SECTION_OF = {"dashboard:host": "dashboard:hosts", "dashboard:user": "dashboard:usage"}


def nav_links(request: HttpRequest) -> list[dict[str, Any]]:
    """The navigation entries, the current page's (or its section's) marked `active`."""
    match = getattr(request, "resolver_match", None)
    current = match.view_name if match is not None else ""
    current = SECTION_OF.get(current, current)
    urlconf = getattr(request, "urlconf", None)
    return [
        {"name": name, "label": label, "url": url, "active": name == current}
        for name, label, url in _nav_links(urlconf)
    ]


def _setup_pending() -> bool:
    from setupwizard.selectors import setup_status

    return not setup_status().complete


def dashboard(request: HttpRequest) -> dict[str, Any]:
    if not is_dashboard_user(request):
        return {"nav": [], "setup_pending": False}
    match = getattr(request, "resolver_match", None)
    in_wizard = match is not None and match.namespace == "setupwizard"
    # A callable: the template calls it only where it asks (one small query).
    return {"nav": nav_links(request), "setup_pending": False if in_wizard else _setup_pending}
