"""Writes for host delivery: registration, installer links, slash commands, Codex usage."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.services import audit_record
from core.crypto import decrypt_text, encrypt_text
from core.errors import ApplicationError
from core.hashing import secret_hint, sha256_hex
from core.principals import host_actor
from core.time import iso
from hosts.delivery.installer import installer_script
from hosts.delivery.prompts import prompt_metadata
from hosts.delivery.selectors import installer_token_find
from hosts.delivery.telemetry import CodexUsage
from hosts.keys import key_generate
from hosts.models import Host, InstallerToken, SlashCommand
from hosts.wrapper.bake import BakeError, fqdn_error
from usage.models import Source
from usage.records import NewRecord
from usage.services.ingest import records_insert

MSG_INSTALLER_UNKNOWN = "Installer token not found."
MSG_INSTALLER_GONE = "Installer token already used or expired."


@dataclass(frozen=True)
class Registration:
    host: Host
    api_key: str  # plaintext, shown once
    installer: InstallerToken
    installer_token: str  # plaintext, shown once
    rotated: bool


def _installer_mint(*, host: Host, api_key: str, now) -> tuple[InstallerToken, str]:
    token = secrets.token_urlsafe(32)
    row = InstallerToken.objects.create(
        token_hash=sha256_hex(token),
        host=host,
        pending_key_ciphertext=encrypt_text(api_key),
        expires_at=now + timedelta(seconds=settings.INSTALL_TOKEN_TTL),
        created_at=now,
    )
    return row, token


def host_register(
    *, fqdn: str, owner: str | None = None, actor: str = "", ip: str | None = None
) -> Registration:
    """Create the host for `fqdn`, or rotate its key; either way mint a fresh installer link.

    Rotation clears the IP binding (the next install binds afresh) and voids the host's earlier
    unused installer links, since they carry the key that stops working now.
    """
    fqdn = fqdn.strip().lower()
    problem = fqdn_error(fqdn)
    if problem:
        raise ApplicationError("Validation failed.", status_code=422, fields={"fqdn": problem})
    api_key = key_generate()
    now = timezone.now()
    with transaction.atomic():
        host = Host.objects.select_for_update().filter(fqdn=fqdn).first()
        rotated = host is not None
        if host is None:
            try:
                with transaction.atomic():
                    host = Host.objects.create(
                        fqdn=fqdn,
                        owner=owner or "",
                        api_key_hash=sha256_hex(api_key),
                        api_key_hint=secret_hint(api_key),
                        created_at=now,
                    )
            except IntegrityError:
                # Registered concurrently by another request: rotate what it created.
                host = Host.objects.select_for_update().get(fqdn=fqdn)
                rotated = True
        previous_ip = host.bound_ip
        if rotated:
            host.api_key_hash = sha256_hex(api_key)
            host.api_key_hint = secret_hint(api_key)
            host.bound_ip = None
            if owner is not None:
                host.owner = owner
            host.save(
                update_fields=["api_key_hash", "api_key_hint", "bound_ip", "owner", "updated_at"]
            )
            InstallerToken.objects.filter(
                host=host, used_at__isnull=True, expires_at__gt=now
            ).update(expires_at=now, pending_key_ciphertext="")
        installer, token = _installer_mint(host=host, api_key=api_key, now=now)
        meta = {
            "host_id": host.pk,
            "fqdn": host.fqdn,
            "owner": host.owner,
            "installer_id": installer.pk,
            "installer_expires_at": iso(installer.expires_at),
        }
        if rotated:
            meta["previous_bound_ip"] = previous_ip
        audit_record(
            action="host.rotate" if rotated else "host.register", actor=actor, ip=ip, meta=meta
        )
    return Registration(
        host=host, api_key=api_key, installer=installer, installer_token=token, rotated=rotated
    )


def installer_consume(*, token: str, ip: str | None = None) -> tuple[Host, bytes]:
    """Use an installer link once and answer its script.

    404 unknown, 410 used or expired. The claim is one conditional UPDATE, so of two concurrent
    requests exactly one wins; the pending key is erased in that same statement.
    """
    row = installer_token_find(token=token)
    if row is None:
        raise ApplicationError(MSG_INSTALLER_UNKNOWN, status_code=404)
    if not row.pending_key_ciphertext:
        raise ApplicationError(MSG_INSTALLER_GONE, status_code=410)
    # Decrypt before claiming, so a key the server cannot read does not burn the link.
    api_key = decrypt_text(row.pending_key_ciphertext)
    now = timezone.now()
    with transaction.atomic():
        claimed = InstallerToken.objects.filter(
            pk=row.pk, used_at__isnull=True, expires_at__gt=now
        ).update(used_at=now, used_ip=ip, pending_key_ciphertext="")
        if not claimed:
            raise ApplicationError(MSG_INSTALLER_GONE, status_code=410)
        try:
            script = installer_script(fqdn=row.host.fqdn, api_key=api_key)
        except BakeError as exc:
            # Rolls the claim back: the link stays usable once the operator fixes the setting.
            raise ApplicationError(f"Installer cannot be built: {exc}", status_code=500) from exc
        audit_record(
            action="host.install",
            actor=f"installer:{row.pk}",
            ip=ip,
            meta={"host_id": row.host_id, "fqdn": row.host.fqdn, "installer_id": row.pk},
        )
    return row.host, script


@dataclass(frozen=True)
class SlashStore:
    command: SlashCommand
    status: str  # created | updated | unchanged


def slash_command_store(
    *,
    filename: str,
    prompt: str,
    description: str | None = None,
    argument_hint: str | None = None,
    sha256: str | None = None,
    host: Host | None = None,
    actor: str = "",
    ip: str | None = None,
) -> SlashStore:
    """Store the canonical prompt `filename`. A given `sha256` must be the prompt's digest.

    Description and argument hint come from the explicit values, else from the prompt's front
    matter; when the prompt is unchanged and a value is not given, the stored one is kept.
    """
    digest = sha256_hex(prompt)
    if sha256 is not None and sha256.lower() != digest:
        raise ApplicationError(
            "Validation failed.",
            status_code=422,
            fields={"sha256": "Does not match the SHA-256 of the prompt."},
        )
    parsed_description, parsed_hint = prompt_metadata(
        prompt, description=description, argument_hint=argument_hint
    )
    now = timezone.now()
    with transaction.atomic():
        row = SlashCommand.objects.select_for_update().filter(filename=filename).first()
        status = "updated"
        if row is not None and row.deleted_at is not None:
            if row.sha256 == digest:
                # A host pushing back its copy of a retired prompt: it stays retired, and the
                # answer tells the host to remove its copy.
                return SlashStore(command=row, status="deleted")
            row.deleted_at = None  # new content under a retired name: a prompt again
            row.created_at = now
        if row is None:
            try:
                with transaction.atomic():
                    row = SlashCommand.objects.create(
                        filename=filename,
                        prompt=prompt,
                        sha256=digest,
                        description=parsed_description,
                        argument_hint=parsed_hint,
                        source_host=host,
                        created_at=now,
                        updated_at=now,
                    )
                    status = "created"
            except IntegrityError:
                row = SlashCommand.objects.select_for_update().get(filename=filename)
        if status == "updated":
            same_prompt = row.sha256 == digest
            new_description = (
                row.description if same_prompt and description is None else parsed_description
            )
            new_hint = row.argument_hint if same_prompt and argument_hint is None else parsed_hint
            if same_prompt and new_description == row.description and new_hint == row.argument_hint:
                return SlashStore(command=row, status="unchanged")
            previous = row.sha256
            row.prompt, row.sha256 = prompt, digest
            row.description, row.argument_hint = new_description, new_hint
            row.source_host, row.updated_at = host, now
            row.save()
        else:
            previous = None
        audit_record(
            action="slash.store",
            actor=actor,
            ip=ip,
            meta={
                "filename": filename,
                "sha256": digest,
                "previous_sha256": previous,
                "status": status,
                "host_id": host.pk if host else None,
            },
        )
    return SlashStore(command=row, status=status)


@dataclass(frozen=True)
class CodexUsageRecorded:
    entry: CodexUsage
    message_id: str
    recorded: bool  # False when this id was already stored (a replay)


def codex_message_id(*, host_id: int, client_id: str | None) -> str:
    """Stable per host and client id, so a resent entry is a duplicate; else always fresh."""
    return f"codex:{host_id}:{client_id if client_id is not None else 'u-' + uuid.uuid4().hex}"


def codex_usage_record(
    *,
    host: Host,
    entries: list[CodexUsage],
    rejected: list[dict] | None = None,
    ip: str | None = None,
) -> list[CodexUsageRecorded]:
    """Store Codex usage entries as `UsageRecord`s of the host (user = owner or FQDN).

    input = non-cached input, cache_read = cached, output includes reasoning (billed once).
    """
    now = timezone.now()
    user = host.usage_user[:100]
    records = [
        NewRecord(
            message_id=codex_message_id(host_id=host.pk, client_id=entry.client_id),
            source=Source.CODEX.value,
            user=user,
            machine=host.fqdn,
            model=entry.model,
            ts=now,
            input=entry.input,
            cache_read=entry.cached,
            output=entry.output,
            reasoning=entry.reasoning,
            host_id=host.pk,
            line=entry.line,
        )
        for entry in entries
    ]
    results: list[CodexUsageRecorded] = []
    with transaction.atomic():
        inserted = set(records_insert(records=records).inserted)
        claimed: set[str] = set()
        for entry, record in zip(entries, records, strict=True):
            # Two entries of one request with the same id: only the first is the new row.
            recorded = record.message_id in inserted and record.message_id not in claimed
            claimed.add(record.message_id)
            results.append(
                CodexUsageRecorded(entry=entry, message_id=record.message_id, recorded=recorded)
            )
            audit_record(
                action="token.usage",
                actor=host_actor(host.fqdn),
                ip=ip,
                meta={
                    "host_id": host.pk,
                    "fqdn": host.fqdn,
                    "message_id": record.message_id,
                    "client_id": entry.client_id,
                    "model": entry.model,
                    "total": entry.total,
                    "input": entry.input,
                    "cached": entry.cached,
                    "output": entry.output,
                    "reasoning": entry.reasoning,
                    "recorded": recorded,
                },
            )
        if rejected:
            audit_record(
                action="token.usage_rejected",
                actor=host_actor(host.fqdn),
                ip=ip,
                meta={
                    "host_id": host.pk,
                    "fqdn": host.fqdn,
                    "count": len(rejected),
                    "first": [
                        {"index": item["index"], "error": item["error"]} for item in rejected[:20]
                    ],
                },
            )
    return results


def slash_command_retire(*, filename: str, actor: str = "", ip: str | None = None) -> SlashCommand:
    """Retire a prompt: gone from the lists; `retrieve` answers `deleted` so clients remove it."""
    now = timezone.now()
    with transaction.atomic():
        row = SlashCommand.objects.select_for_update().filter(filename=filename).first()
        if row is None:
            raise ApplicationError("Slash command not found.", status_code=404)
        if row.deleted_at is None:
            row.deleted_at = now
            row.save(update_fields=["deleted_at"])
            audit_record(
                action="slash.delete",
                actor=actor,
                ip=ip,
                meta={"filename": filename, "sha256": row.sha256},
            )
    return row
