"""Fernet secrets at rest: the first FIELD_ENCRYPTION_KEY encrypts, every key decrypts."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.test import override_settings

from core.crypto import DecryptionError, decrypt_text, encrypt_text

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def test_it_round_trips_and_never_stores_the_plaintext():
    with override_settings(FIELD_ENCRYPTION_KEY=[OLD]):
        ciphertext = encrypt_text('{"refresh_token": "rt_secret"}')
        assert "rt_secret" not in ciphertext
        assert decrypt_text(ciphertext) == '{"refresh_token": "rt_secret"}'


def test_it_rotates_by_putting_a_new_key_first():
    with override_settings(FIELD_ENCRYPTION_KEY=[OLD]):
        old_ciphertext = encrypt_text("before")
    with override_settings(FIELD_ENCRYPTION_KEY=[NEW, OLD]):
        assert decrypt_text(old_ciphertext) == "before"
        new_ciphertext = encrypt_text("after")
    with override_settings(FIELD_ENCRYPTION_KEY=[NEW]):
        assert decrypt_text(new_ciphertext) == "after"
        with pytest.raises(DecryptionError):
            decrypt_text(old_ciphertext)
