"""Reads for host delivery: installer tokens and slash commands."""

from __future__ import annotations

from core.hashing import sha256_hex
from hosts.models import InstallerToken, SlashCommand


def installer_token_find(*, token: str) -> InstallerToken | None:
    return (
        InstallerToken.objects.select_related("host").filter(token_hash=sha256_hex(token)).first()
    )


def slash_command_list() -> list[SlashCommand]:
    """The live prompts (retired ones are only answered `deleted` by retrieve)."""
    return list(
        SlashCommand.objects.filter(deleted_at__isnull=True).defer("prompt").order_by("filename")
    )


def slash_command_get(*, filename: str) -> SlashCommand | None:
    return SlashCommand.objects.filter(filename=filename).first()
