"""Digests and display hints for secrets and content: SHA-256 hex, and `abc…wxyz` hints."""

from __future__ import annotations

import hashlib


def sha256_hex(data: str | bytes) -> str:
    """SHA-256 hex of bytes, or of text as UTF-8 (tokens, keys, prompts, JSON text)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def secret_hint(plaintext: str) -> str:
    """What a secret is shown as after issue: its first 3 and last 4 characters."""
    return f"{plaintext[:3]}…{plaintext[-4:]}"
