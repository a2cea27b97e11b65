"""The `cdx` wrapper template and its baking for one host.

Baking substitutes three placeholders with shell-quoted values: the server's public base URL, the
host's FQDN and the wrapper version. Every value is validated first and a value that could leave
its quotes is refused, so a baked script can never run text a client chose. The wrapper holds no
secret: the host key lives in `~/.config/tokenfleet/host.env` (0600, written by the installer), so
the baked bytes differ between hosts only through the base URL and the FQDN.
`wrapper_metadata` describes exactly the bytes `bake` returns for the same host.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path

from django.conf import settings

from core.hashing import sha256_hex

WRAPPER_VERSION: str = "0.2.0"
# Release time of WRAPPER_VERSION; a constant so every server behind a balancer agrees.
WRAPPER_UPDATED_AT = "2026-11-29T00:00:00Z"
WRAPPER_URL = "/wrapper/download"

TEMPLATE_PATH = Path(__file__).with_name("cdx.template")

PLACEHOLDERS = (
    "__CDX_BASE_URL__",
    "__CDX_FQDN__",
    "__CDX_WRAPPER_VERSION__",
)
_PLACEHOLDER_RE = re.compile("|".join(re.escape(name) for name in PLACEHOLDERS))

FQDN_MAX = 253
_LABEL_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_API_KEY_RE = re.compile(r"^[A-Za-z0-9_]{16,128}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9._+-]{1,64}$")
# Scheme, a host name, IPv4 or bracketed IPv6, an optional port and a plain path: nothing a shell,
# a URL query or a quote could act on.
_BASE_URL_RE = re.compile(
    r"^https?://(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]*)?$"
)


class BakeError(ValueError):
    """A value that cannot be baked into the wrapper."""


def fqdn_error(fqdn: object) -> str | None:
    """Why `fqdn` is not a DNS name we accept, or None when it is."""
    if not isinstance(fqdn, str) or not fqdn:
        return "FQDN is required."
    if len(fqdn) > FQDN_MAX:
        return f"FQDN must be at most {FQDN_MAX} characters."
    if not all(_LABEL_RE.fullmatch(label) for label in fqdn.split(".")):
        return (
            "FQDN must be a DNS name: dot-separated labels of letters, digits and hyphens "
            "(1-63 characters, not starting or ending with a hyphen)."
        )
    return None


def base_url_error(url: object) -> str | None:
    if not isinstance(url, str) or not _BASE_URL_RE.fullmatch(url):
        return (
            "PUBLIC_BASE_URL must be an http(s) URL without query, fragment or special characters."
        )
    return None


def api_key_error(api_key: object) -> str | None:
    if not isinstance(api_key, str) or not _API_KEY_RE.fullmatch(api_key):
        return "API key must be 16-128 characters of letters, digits and '_'."
    return None


def _validated(*, base_url: str, fqdn: str, version: str) -> dict[str, str]:
    problems = [
        problem
        for problem in (
            base_url_error(base_url),
            fqdn_error(fqdn),
            None if _VERSION_RE.fullmatch(version) else "Bad wrapper version.",
        )
        if problem
    ]
    if problems:
        raise BakeError(" ".join(problems))
    return {
        "__CDX_BASE_URL__": shlex.quote(base_url),
        "__CDX_FQDN__": shlex.quote(fqdn),
        "__CDX_WRAPPER_VERSION__": shlex.quote(version),
    }


@lru_cache(maxsize=1)
def _template_bytes_for(path: Path, mtime_ns: int) -> bytes:
    data = path.read_bytes()
    for name in PLACEHOLDERS:
        if data.count(name.encode()) != 1:
            raise BakeError(f"Wrapper template must contain {name} exactly once.")
    return data


def template_bytes() -> bytes:
    """The unbaked template (re-read when the file changes)."""
    return _template_bytes_for(TEMPLATE_PATH, TEMPLATE_PATH.stat().st_mtime_ns)


def unbaked_sha256() -> str:
    return sha256_hex(template_bytes())


def _base_url() -> str:
    return str(settings.PUBLIC_BASE_URL).rstrip("/")


@lru_cache(maxsize=1024)
def _baked_digest(
    base_url: str, fqdn: str, version: str, template: str, template_mtime_ns: int
) -> tuple[str, int]:
    """(sha256, size) of the bytes `bake` returns for these inputs (the template by path and
    modification time, so an edited template is hashed again); raises BakeError, uncached."""
    baked = _bake(base_url=base_url, fqdn=fqdn, version=version)
    return sha256_hex(baked), len(baked)


def bake(*, host) -> bytes:
    """The wrapper for `host` (anything with `.fqdn`); raises BakeError."""
    return _bake(base_url=_base_url(), fqdn=host.fqdn, version=WRAPPER_VERSION)


def _bake(*, base_url: str, fqdn: str, version: str) -> bytes:
    values = _validated(base_url=base_url, fqdn=fqdn, version=version)
    # One pass, so a substituted value is never scanned for further placeholders.
    text = template_bytes().decode("utf-8")
    return _PLACEHOLDER_RE.sub(lambda match: values[match.group(0)], text).encode("utf-8")


def wrapper_metadata(*, host) -> dict:
    # Every /auth answer carries this host's digest: baking and hashing 50 KB each time cost
    # 0.12 ms of CPU a call, for bytes that change only with the host, the URL or the template.
    sha256, size = _baked_digest(
        _base_url(),
        host.fqdn,
        WRAPPER_VERSION,
        str(TEMPLATE_PATH),
        TEMPLATE_PATH.stat().st_mtime_ns,
    )
    return {
        "version": WRAPPER_VERSION,
        "sha256": sha256,
        "size_bytes": size,
        "updated_at": WRAPPER_UPDATED_AT,
        "url": WRAPPER_URL,
    }


__all__ = [
    "WRAPPER_VERSION",
    "WRAPPER_UPDATED_AT",
    "WRAPPER_URL",
    "BakeError",
    "bake",
    "api_key_error",
    "base_url_error",
    "fqdn_error",
    "unbaked_sha256",
    "wrapper_metadata",
]
