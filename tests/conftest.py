"""The shared test cast: an admin token, an ingest token for alice, read and embed tokens."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from accounts.services import token_issue

# Property tests check behaviour, not speed: on a loaded 2-core CI machine Hypothesis' timing
# health check ("input generation is slow") and its per-example deadline failed tests whose
# properties held. Their example counts stay bounded where each test sets them.
hypothesis_settings.register_profile(
    "tokenfleet", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("tokenfleet")


@pytest.fixture(autouse=True)
def _clean_cache():
    """Rate-limit counters and cooldowns live in the cache; every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _static_without_manifest():
    """The suite does not run collectstatic; pages that link static files (the admin) resolve
    them unhashed. tests/test_serving.py collects them and checks the manifest's hashed names."""
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}):
        yield


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def _issue(user: str, scope: str, **kwargs) -> str:
    _token, plaintext = token_issue(user=user, scope=scope, actor="test", **kwargs)
    return plaintext


@pytest.fixture
def admin_token(db) -> str:
    return _issue("root", "admin")


@pytest.fixture
def alice_ingest_token(db) -> str:
    return _issue("alice", "ingest")


@pytest.fixture
def read_token(db) -> str:
    return _issue("reader", "read")


@pytest.fixture
def embed_token(db) -> str:
    return _issue("board", "embed")


@pytest.fixture
def client_for(db):
    """`client_for(token)` → an APIClient that sends `Authorization: Bearer <token>`."""

    def make(token: str | None) -> APIClient:
        client = APIClient()
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make
