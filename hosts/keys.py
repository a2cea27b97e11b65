"""Host API keys: shell-safe, stored only as SHA-256 (core.hashing)."""

from __future__ import annotations

import secrets
import string

KEY_PREFIX = "hk_"
_ALPHABET = string.ascii_letters + string.digits


def key_generate() -> str:
    """`hk_` + 40 characters of [A-Za-z0-9] (~238 bits), safe unquoted in shell."""
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))
