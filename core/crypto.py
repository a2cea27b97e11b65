"""Fernet encryption for secrets at rest (FIELD_ENCRYPTION_KEY, comma-separated for rotation).

The first key encrypts; every key decrypts, so an operator rotates by putting a new key first.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionError(Exception):
    pass


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise DecryptionError("FIELD_ENCRYPTION_KEY is not set.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEY))


def encrypt_text(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode("utf-8")).decode("ascii")


MSG_UNDECRYPTABLE = "Stored secret cannot be decrypted with FIELD_ENCRYPTION_KEY."


def decrypt_text(ciphertext: str) -> str:
    try:
        return _current().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise DecryptionError(MSG_UNDECRYPTABLE) from exc


def reencrypt_text(ciphertext: str) -> str:
    """The same plaintext under the first FIELD_ENCRYPTION_KEY (key rotation): any key may have
    encrypted `ciphertext`."""
    try:
        return _current().rotate(ciphertext.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError(MSG_UNDECRYPTABLE) from exc
