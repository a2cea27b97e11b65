"""config/urls.py lists the fleet's host routes early (the hot `/auth` path is resolved in a
few steps): that is only safe while no path is matched by two of its entries."""

from __future__ import annotations

import re

from django.urls import Resolver404, URLResolver, get_resolver, resolve

_PARAMETER = re.compile(r"<[^>]+>")


def _sample_paths(resolver: URLResolver, prefix: str = ""):
    """One concrete path per route (each `<...>` parameter filled with a number)."""
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _sample_paths(entry, pattern)
        elif "(?" not in pattern and "^" not in pattern:  # regex routes (static, admin): skipped
            yield "/" + _PARAMETER.sub("123", pattern)


def _entries_matching(path: str) -> list[str]:
    matching = []
    for entry in get_resolver().url_patterns:
        try:
            found = entry.resolve(path.removeprefix("/"))
        except Resolver404:
            found = None
        if found is not None:
            matching.append(repr(entry))
    return matching


def test_it_matches_every_route_by_one_entry_of_the_root_urlconf():
    paths = list(_sample_paths(get_resolver()))
    assert "/auth" in paths and "/admin/hosts/123/auth" in paths
    ambiguous = {path: found for path in paths if len(found := _entries_matching(path)) > 1}
    assert ambiguous == {}


def test_it_resolves_the_fleet_routes_to_their_views():
    assert resolve("/auth").url_name == "fleet-auth"
    assert resolve("/health").url_name == "health"
    assert resolve("/admin/logs").url_name is not None
