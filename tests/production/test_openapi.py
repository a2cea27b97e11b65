"""docs/openapi.yaml: generated from the code (drf-spectacular, core/openapi.py), committed, valid
OpenAPI 3, and listing every API route the URL resolver knows, so a route added later without
`make openapi` fails here. Served at /api/schema; browsable at /api/docs for admins only, with
Swagger UI's files served by us (drf-spectacular-sidecar), no CDN."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate
from rest_framework.renderers import TemplateHTMLRenderer
from rest_framework.views import APIView

from core.errors import dialect_for_path

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
# The documentation's own routes describe nothing of the API.
NOT_API = {"/api/schema", "/api/docs"}
METHODS = ("get", "post", "put", "patch", "delete")


def routes(patterns, prefix: str = ""):
    """(path in OpenAPI form, view callback) for every route of the resolver."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + str(pattern.pattern))
            yield path, pattern.callback


def api_routes() -> dict[str, set[str]]:
    """Every API route and its methods: each DRF view that is not an HTML page, and each plain
    Django view on a dialect's prefix. HTML pages (the dashboard, /setup/, /django-admin/) are
    not the API."""
    found: dict[str, set[str]] = {}
    for path, callback in routes(get_resolver().url_patterns):
        if path in NOT_API or path.startswith("/django-admin/"):
            continue
        view = getattr(callback, "cls", None)
        if isinstance(view, type) and issubclass(view, APIView):
            renderers = view.renderer_classes
            if renderers and all(issubclass(r, TemplateHTMLRenderer) for r in renderers):
                continue
            found[path] = {method for method in METHODS if hasattr(view, method)}
        elif dialect_for_path(path) is not None:
            found[path] = {"get"}
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> str:
    target = tmp_path_factory.mktemp("openapi") / "openapi.yaml"
    call_command("spectacular", "--file", str(target), "--fail-on-warn")
    return target.read_text()


def test_the_committed_description_is_the_codes(generated):
    assert COMMITTED.read_text() == generated, (
        "docs/openapi.yaml differs from what the code describes: run `make openapi`"
    )


def test_it_is_valid_openapi_3(generated):
    document = yaml.safe_load(generated)
    assert document["openapi"].startswith("3.")
    validate(document)  # raises on the first problem


def test_it_lists_every_api_route_with_its_methods(generated):
    documented = {
        path: {method for method in operations if method in METHODS}
        for path, operations in yaml.safe_load(generated)["paths"].items()
    }
    expected = api_routes()
    assert set(expected) - set(documented) == set(), "API routes missing from the description"
    assert set(documented) - set(expected) == set(), "described routes the server does not have"
    for path, methods in expected.items():
        assert documented[path] == methods, path
    # Both dialects, and the routes the specs name first.
    for path in ("/api/usage/totals", "/api/ingest/messages", "/auth", "/admin/hosts", "/health"):
        assert path in documented


def test_it_names_how_each_caller_authenticates(generated):
    document = yaml.safe_load(generated)
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["apiToken"]["description"],
    }
    assert schemes["hostKey"]["name"] == "X-API-Key"
    assert {"hostKey": []} in document["paths"]["/auth"]["post"]["security"]


@pytest.mark.django_db
def test_it_serves_the_schema_to_anyone(client):
    response = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
    assert "/auth" in response.json()["paths"]


@pytest.mark.django_db
def test_it_shows_the_docs_to_admins_only(client, client_for, admin_token, read_token, settings):
    assert client.get("/api/docs").status_code in (401, 403)
    assert client_for(read_token).get("/api/docs").status_code == 403
    page = client_for(admin_token).get("/api/docs")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html and "/static/drf_spectacular_sidecar/" in html
    assert not re.search(r"https?://(cdn|unpkg|fastly)", html)  # nothing from a CDN

    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    client.force_login(staff)
    assert client.get("/api/docs").status_code == 200
    client.logout()
    plain = get_user_model().objects.create_user("someone", password="x")
    client.force_login(plain)
    assert client.get("/api/docs").status_code == 403


@pytest.mark.django_db
def test_it_shows_the_docs_over_admin_mtls_from_a_trusted_proxy(client):
    with override_settings(TRUSTED_PROXIES=["unix"]):
        assert (
            client.get("/api/docs", REMOTE_ADDR="", HTTP_X_MTLS_PRESENT="SUCCESS").status_code
            == 200
        )
        forged = client.get("/api/docs", REMOTE_ADDR="127.0.0.1", HTTP_X_MTLS_PRESENT="SUCCESS")
        assert forged.status_code in (401, 403)
