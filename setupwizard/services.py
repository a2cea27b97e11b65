"""Writes of the setup wizard: the one-time setup code, the first admin, completion and reset.

Each function is keyword-only, runs in one transaction and writes its audit event there.
The wizard's other steps call the owning apps' services (accounts.token_issue,
hosts.delivery.host_register, embed.embed_origin_add), so they are audited as any other change.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.selectors import staff_user_exists
from accounts.services import audit_record
from core.errors import ApplicationError
from core.hashing import sha256_hex
from setupwizard.models import Infra, Scenario, SetupCode, SetupState

logger = logging.getLogger("tokenfleet.setup")

# No 0/O, 1/I/L: read off a terminal and typed by hand. 12 characters ≈ 60 bits.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS = 3
CODE_GROUP_LENGTH = 4

MSG_ADMIN_EXISTS = "Setup already has an admin: sign in instead."
MSG_BAD_CODE = "That setup code is not the one in the server's log."


def _new_code() -> str:
    groups = (
        "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP_LENGTH))
        for _ in range(CODE_GROUPS)
    )
    return "-".join(groups)


def normalise_code(value: str) -> str:
    """What the visitor typed, as the code is hashed: upper case, dashes where they belong."""
    letters = "".join(ch for ch in (value or "").upper() if ch.isalnum())
    return "-".join(
        letters[i : i + CODE_GROUP_LENGTH] for i in range(0, len(letters), CODE_GROUP_LENGTH)
    )


def _announce(code: str, reason: str) -> None:
    # WARNING: visible at every LOG_LEVEL an operator would run with. The code is useless once
    # the first admin exists, and it is not a credential format the log filter redacts.
    logger.warning(
        "\n%s\n  tokenfleet setup code: %s\n  Open /setup/ in a browser and enter it to create the "
        "first admin (%s).\n%s",
        "=" * 64,
        code,
        reason,
        "=" * 64,
    )


def setup_code_issue(*, reason: str = "requested", actor: str = "", ip: str | None = None) -> str:
    """A fresh setup code replaces any earlier one; printed to the server log and returned."""
    if staff_user_exists():
        raise ApplicationError(MSG_ADMIN_EXISTS, status_code=409)
    code = _new_code()
    now = timezone.now()
    with transaction.atomic():
        SetupCode.objects.update_or_create(
            pk=SetupCode.SINGLETON_PK,
            defaults={"code_hash": sha256_hex(code), "created_at": now, "used_at": None},
        )
        audit_record(action="setup.code_issue", actor=actor, ip=ip, meta={"reason": reason})
    _announce(code, reason)
    return code


def setup_code_ensure() -> bool:
    """On a fresh install make sure a usable setup code exists; True when this call made it.

    Several workers may get here at once: creating row pk 1 (or reviving a used one with a
    conditional UPDATE) succeeds for exactly one of them, and only that one prints its code.
    """
    if staff_user_exists():
        return False
    code = _new_code()
    now = timezone.now()
    with transaction.atomic():
        _row, created = SetupCode.objects.get_or_create(
            pk=SetupCode.SINGLETON_PK,
            defaults={"code_hash": sha256_hex(code), "created_at": now},
        )
        if not created:
            # A code was used, but there is no staff user any more (deleted or demoted).
            created = bool(
                SetupCode.objects.filter(pk=SetupCode.SINGLETON_PK, used_at__isnull=False).update(
                    code_hash=sha256_hex(code), created_at=now, used_at=None
                )
            )
        if not created:
            return False
        audit_record(action="setup.code_issue", actor="system", meta={"reason": "fresh install"})
    _announce(code, "fresh install: no staff user yet")
    return True


def setup_admin_create(
    *, code: str, username: str, password: str, email: str = "", ip: str | None = None
) -> User:
    """Create the first admin (staff and superuser) with the setup code from the log.

    The password has been checked by the form (Django's validators). 409 once a staff user
    exists; 403 for a wrong or used code.
    """
    digest = sha256_hex(normalise_code(code))
    with transaction.atomic():
        row = SetupCode.objects.select_for_update().filter(pk=SetupCode.SINGLETON_PK).first()
        if staff_user_exists():
            raise ApplicationError(MSG_ADMIN_EXISTS, status_code=409)
        if row is None or row.used_at is not None or not hmac.compare_digest(row.code_hash, digest):
            raise ApplicationError(MSG_BAD_CODE, status_code=403, fields={"code": MSG_BAD_CODE})
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            raise ApplicationError(
                "Invalid request.", fields={"username": "A user with that username exists."}
            )
        user = user_model.objects.create_superuser(
            username=username, email=email or "", password=password
        )
        row.used_at = timezone.now()
        row.save(update_fields=["used_at"])
        audit_record(
            action="setup.admin_create",
            actor=f"staff:{username}",
            ip=ip,
            meta={"username": username, "user_id": user.pk},
        )
    return user


def _choice_errors(scenario: Any, infra: Any) -> dict[str, str]:
    fields = {}
    if scenario not in Scenario.values:
        fields["scenario"] = f"Must be one of: {', '.join(Scenario.values)}."
    if infra not in Infra.values:
        fields["infra"] = f"Must be one of: {', '.join(Infra.values)}."
    return fields


def setup_complete(
    *, scenario: str, infra: str, actor: str = "", ip: str | None = None
) -> SetupState:
    """Record the wizard's outcome. Completing again records the new choices and time."""
    fields = _choice_errors(scenario, infra)
    if fields:
        raise ApplicationError("Invalid request.", fields=fields)
    now = timezone.now()
    with transaction.atomic():
        state, _created = SetupState.objects.update_or_create(
            pk=SetupState.SINGLETON_PK,
            defaults={"complete": True, "scenario": scenario, "infra": infra, "completed_at": now},
        )
        audit_record(
            action="setup.complete",
            actor=actor,
            ip=ip,
            meta={"scenario": scenario, "infra": infra},
        )
    return state


def setup_reset(*, actor: str = "", ip: str | None = None) -> None:
    """Clear the recorded setup (scenario, infra, completion). Users, tokens, hosts and origins
    stay: the wizard can be run again by a signed-in admin."""
    with transaction.atomic():
        state = SetupState.objects.select_for_update().filter(pk=SetupState.SINGLETON_PK).first()
        previous = (
            {"complete": state.complete, "scenario": state.scenario, "infra": state.infra}
            if state is not None
            else None
        )
        SetupState.objects.filter(pk=SetupState.SINGLETON_PK).delete()
        audit_record(action="setup.reset", actor=actor, ip=ip, meta={"previous": previous})
