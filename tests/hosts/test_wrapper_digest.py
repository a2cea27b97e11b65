"""hosts.wrapper.bake.wrapper_metadata: the digest is remembered, and always of the bytes `bake`
returns for the same host, URL and template."""

from __future__ import annotations

from types import SimpleNamespace

from django.test import override_settings

from core.hashing import sha256_hex
from hosts.wrapper import bake


def test_it_describes_the_bytes_bake_returns():
    host = SimpleNamespace(fqdn="build-01")

    meta = bake.wrapper_metadata(host=host)

    baked = bake.bake(host=host)
    assert (meta["sha256"], meta["size_bytes"]) == (sha256_hex(baked), len(baked))


def test_it_follows_the_public_url():
    host = SimpleNamespace(fqdn="build-01")
    with override_settings(PUBLIC_BASE_URL="https://one.example"):
        first = bake.wrapper_metadata(host=host)["sha256"]
        assert first == sha256_hex(bake.bake(host=host))
    with override_settings(PUBLIC_BASE_URL="https://two.example"):
        second = bake.wrapper_metadata(host=host)["sha256"]
        assert second == sha256_hex(bake.bake(host=host))

    assert first != second
