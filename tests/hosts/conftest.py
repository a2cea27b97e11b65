"""The fleet cast: host `build-01`, owned by alice, with a known plaintext key.

Fixture names are shared with other test modules (`host_key`, `host`, `host_client`); keep them.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from hosts.keys import KEY_PREFIX, key_hash, key_hint
from hosts.models import Host

BUILD_01_KEY = KEY_PREFIX + "Build01TestKeyAbCdEfGhIjKlMnOpQrStUvWx12"
HOST_FQDN = "build-01"
HOST_OWNER = "alice"
HOST_IP = "127.0.0.1"


@pytest.fixture
def host_key() -> str:
    """The plaintext key of `build-01` (the server keeps only its SHA-256)."""
    return BUILD_01_KEY


@pytest.fixture
def host(db, host_key) -> Host:
    """`build-01`, active, owned by alice, not yet bound to an IP, roaming off."""
    return Host.objects.create(
        fqdn=HOST_FQDN,
        owner=HOST_OWNER,
        api_key_hash=key_hash(host_key),
        api_key_hint=key_hint(host_key),
    )


@pytest.fixture
def host_client(host, host_key) -> APIClient:
    """An APIClient that sends `X-API-Key: <host_key>` from 127.0.0.1."""
    client = APIClient(REMOTE_ADDR=HOST_IP)
    client.credentials(HTTP_X_API_KEY=host_key)
    return client
