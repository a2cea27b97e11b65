from __future__ import annotations

from django.contrib import admin

from core.admin import ReadOnlyAdmin
from embed.models import EmbedOrigin


@admin.register(EmbedOrigin)
class EmbedOriginAdmin(ReadOnlyAdmin):
    """Read-only here: the API normalises and audits every change."""

    list_display = ("origin", "label", "created_at")
    search_fields = ("origin", "label")
