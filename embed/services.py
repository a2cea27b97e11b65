"""Writes of the embed app: the embed-origins whitelist, audited."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.services import audit_record
from core.errors import ApplicationError
from embed.models import EmbedOrigin
from embed.origins import OriginError, normalise_origin

LABEL_MAX = 200


def embed_origin_add(
    *, origin: str, label: str = "", actor: str = "", ip: str | None = None
) -> EmbedOrigin:
    """Whitelist `origin` (normalised). 400 when it is not an origin, 409 when already there."""
    fields: dict[str, str] = {}
    try:
        normalised = normalise_origin(origin)
    except OriginError as exc:
        fields["origin"] = str(exc)
    if not isinstance(label, str):
        fields["label"] = "Must be a string."
    elif len(label) > LABEL_MAX:
        fields["label"] = f"At most {LABEL_MAX} characters."
    if fields:
        raise ApplicationError("Invalid request.", fields=fields)
    try:
        with transaction.atomic():
            row = EmbedOrigin.objects.create(origin=normalised, label=label.strip())
            audit_record(
                action="embed_origin.add",
                actor=actor,
                ip=ip,
                meta={"id": row.pk, "origin": row.origin, "label": row.label},
            )
    except IntegrityError:
        raise ApplicationError(
            f"{normalised} is already an embed origin.", status_code=409
        ) from None
    return row


def embed_origin_remove(*, origin_id: int, actor: str = "", ip: str | None = None) -> None:
    with transaction.atomic():
        row = EmbedOrigin.objects.select_for_update().filter(pk=origin_id).first()
        if row is None:
            raise ApplicationError("Embed origin not found.", status_code=404)
        audit_record(
            action="embed_origin.remove",
            actor=actor,
            ip=ip,
            meta={"id": row.pk, "origin": row.origin, "label": row.label},
        )
        row.delete()
