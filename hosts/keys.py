"""Host API keys: shell-safe, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import string

KEY_PREFIX = "hk_"
_ALPHABET = string.ascii_letters + string.digits


def key_generate() -> str:
    """`hk_` + 40 characters of [A-Za-z0-9] (~238 bits), safe unquoted in shell."""
    return KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(40))


def key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def key_hint(plaintext: str) -> str:
    return f"{plaintext[:3]}…{plaintext[-4:]}"
