"""Reads of the embed app."""

from __future__ import annotations

from django.db.models import QuerySet

from embed.models import EmbedOrigin


def embed_origin_list() -> QuerySet[EmbedOrigin]:
    return EmbedOrigin.objects.order_by("origin", "id")


def embed_origin_allowed(*, origin: str | None) -> bool:
    """True when `origin` (already normalised) is in the embed-origins table."""
    if not origin:
        return False
    return EmbedOrigin.objects.filter(origin=origin).exists()
