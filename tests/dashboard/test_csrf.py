"""CSRF on every dashboard form: a staff session without the token is refused (403), nothing
changes; the same post with the token from the page goes through."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from embed.services import embed_origin_add
from tests.dashboard.conftest import found


@pytest.fixture
def targets(host, db):
    origin = embed_origin_add(origin="https://a.example", actor="test")
    from accounts.services import token_issue

    token, _ = token_issue(user="erin", scope="read", actor="test")
    return {
        "dashboard:hosts": ([], {"fqdn": "build-09", "owner": ""}),
        "dashboard:host-rotate": ([host.pk], {}),
        "dashboard:host-roaming": ([host.pk], {"allow": "on"}),
        "dashboard:host-status": ([host.pk], {"status": "disabled"}),
        "dashboard:host-clear": ([host.pk], {}),
        "dashboard:host-delete": ([host.pk], {}),
        "dashboard:auth": ([], {"auth": "{}"}),
        "dashboard:slash-retire": ([], {"filename": "x.md"}),
        "dashboard:runner": ([], {"step": "installers"}),
        "dashboard:tokens": ([], {"user": "dana", "scope": "read"}),
        "dashboard:token-revoke": ([token.pk], {}),
        "dashboard:embed": ([], {"origin": "https://b.example"}),
        "dashboard:embed-remove": ([origin.pk], {}),
        "dashboard:api-state": ([], {"disabled": "on"}),
        "dashboard:price-add": ([], {"model_prefix": "m"}),
        "dashboard:prices-refresh": ([], {}),
    }


FORMS = [
    "dashboard:hosts",
    "dashboard:host-rotate",
    "dashboard:host-roaming",
    "dashboard:host-status",
    "dashboard:host-clear",
    "dashboard:host-delete",
    "dashboard:auth",
    "dashboard:slash-retire",
    "dashboard:runner",
    "dashboard:tokens",
    "dashboard:token-revoke",
    "dashboard:embed",
    "dashboard:embed-remove",
    "dashboard:api-state",
    "dashboard:price-add",
    "dashboard:prices-refresh",
]


@pytest.mark.parametrize("name", FORMS)
def test_it_refuses_a_post_without_the_csrf_token(csrf_client, targets, name):
    args, data = targets[name]
    before = AuditEvent.objects.count()
    response = csrf_client.post(reverse(name, args=args), data)
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    assert AuditEvent.objects.count() == before


def test_it_covers_every_post_route(targets):
    from dashboard.urls import urlpatterns

    posting = {
        f"dashboard:{pattern.name}"
        for pattern in urlpatterns
        if "POST" in _allowed(pattern.callback)
    }
    assert posting == set(FORMS)


def _allowed(view) -> set[str]:
    """The methods a view's require_http_methods decorator lets through (kept in its closure)."""
    methods: set[str] = set()
    current = view
    while current is not None:
        for cell in getattr(current, "__closure__", None) or ():
            value = cell.cell_contents
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                methods.update(value)
        current = getattr(current, "__wrapped__", None)
    return methods


def test_it_accepts_the_token_the_page_carries(csrf_client, db):
    page = csrf_client.get(reverse("dashboard:embed")).content.decode()
    token = found(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    response = csrf_client.post(
        reverse("dashboard:embed"),
        {"origin": "https://b.example", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
