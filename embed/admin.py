from __future__ import annotations

from django.contrib import admin

from embed.models import EmbedOrigin


@admin.register(EmbedOrigin)
class EmbedOriginAdmin(admin.ModelAdmin):
    """Read-only here: the API normalises and audits every change."""

    list_display = ("origin", "label", "created_at")
    search_fields = ("origin", "label")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
