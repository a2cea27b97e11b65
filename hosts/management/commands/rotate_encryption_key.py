"""Re-encrypts every secret at rest under the first FIELD_ENCRYPTION_KEY, so older keys can be
removed from the setting afterwards (README "Production", key rotation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from core.crypto import DecryptionError, reencrypt_text
from hosts.models import CanonicalAuth, InstallerToken


class Command(BaseCommand):
    help = (
        "Re-encrypt the canonical logins and pending installer keys under the first "
        "FIELD_ENCRYPTION_KEY; afterwards the other keys can be dropped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with transaction.atomic():
                logins = 0
                for login in CanonicalAuth.objects.select_for_update().only("ciphertext"):
                    login.ciphertext = reencrypt_text(login.ciphertext)
                    login.save(update_fields=["ciphertext"])
                    logins += 1
                keys = 0
                pending = InstallerToken.objects.select_for_update().exclude(
                    pending_key_ciphertext=""
                )
                for installer in pending.only("pending_key_ciphertext"):
                    installer.pending_key_ciphertext = reencrypt_text(
                        installer.pending_key_ciphertext
                    )
                    installer.save(update_fields=["pending_key_ciphertext"])
                    keys += 1
        except DecryptionError:
            raise CommandError(
                "A stored secret cannot be decrypted with any FIELD_ENCRYPTION_KEY: put the key "
                "that encrypted it back into the list. Nothing was changed."
            ) from None
        self.stdout.write(
            f"re-encrypted {logins} canonical login version(s) and {keys} pending installer "
            "key(s) under the first FIELD_ENCRYPTION_KEY"
        )
