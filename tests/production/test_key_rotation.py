"""Key rotation (README "Production"): a new FIELD_ENCRYPTION_KEY first in the list, then
`manage.py rotate_encryption_key` re-encrypts every secret at rest under it; the old key can go."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.test import override_settings

from core.crypto import DecryptionError, decrypt_text, encrypt_text
from hosts.delivery.services import host_register
from hosts.models import CanonicalAuth, InstallerToken

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()

pytestmark = pytest.mark.django_db


def stored_login(text: str, *, current: bool = True) -> CanonicalAuth:
    return CanonicalAuth.objects.create(
        ciphertext=encrypt_text(text),
        digest="d" * 64,
        last_refresh="2026-11-20T10:00:00Z",
        last_refresh_ns=0,
        source="upload",
        is_current=current,
    )


def test_it_moves_every_secret_to_the_first_key(capsys):
    with override_settings(FIELD_ENCRYPTION_KEY=[OLD]):
        login = stored_login('{"tokens": "old"}')
        host_register(fqdn="rotate-01.example.com", owner="ops")
    with override_settings(FIELD_ENCRYPTION_KEY=[NEW, OLD]):
        call_command("rotate_encryption_key")
    assert "re-encrypted 1 canonical login version(s) and 1 pending installer key(s)" in (
        capsys.readouterr().out
    )
    with override_settings(FIELD_ENCRYPTION_KEY=[NEW]):  # the old key is gone
        login.refresh_from_db()
        assert decrypt_text(login.ciphertext) == '{"tokens": "old"}'
        pending = InstallerToken.objects.exclude(pending_key_ciphertext="").get()
        assert decrypt_text(pending.pending_key_ciphertext).strip()
    with override_settings(FIELD_ENCRYPTION_KEY=[OLD]), pytest.raises(DecryptionError):
        decrypt_text(login.ciphertext)


def test_it_changes_nothing_when_a_secret_has_no_key_left():
    with override_settings(FIELD_ENCRYPTION_KEY=[OLD]):
        stored_login('{"tokens": "a"}', current=False)
    with override_settings(FIELD_ENCRYPTION_KEY=[NEW]):
        first = stored_login('{"tokens": "b"}')
        before = first.ciphertext
        with pytest.raises(CommandError, match="cannot be decrypted with any FIELD_ENCRYPTION_KEY"):
            call_command("rotate_encryption_key")
    first.refresh_from_db()
    assert first.ciphertext == before
