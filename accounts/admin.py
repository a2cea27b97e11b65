from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import ModelAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent
from accounts.services import staff_actor, token_revoke
from core.admin import ReadOnlyAdmin
from core.client_ip import client_ip


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("active", "active"), ("revoked", "revoked"), ("expired", "expired")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        return queryset


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = (
        "hint",
        "user",
        "scope",
        "label",
        "active",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("scope", TokenStateFilter)
    search_fields = ("user", "label", "hint")
    ordering = ("-created_at", "-id")
    # The scope is part of the plaintext's prefix and revocation must be audited, so both change
    # only through the services (the API, `issue_token`, or the revoke action below).
    readonly_fields = (
        "hint",
        "scope",
        "token_hash",
        "created_at",
        "created_by",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    fields = ("user", "label", *readonly_fields)
    actions = ("revoke_tokens",)

    @admin.display(boolean=True)
    def active(self, token: ApiToken) -> bool:
        return token.is_active()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are issued by the API or `issue_token`, which show the plaintext once

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False  # revoke instead: the row keeps the audit trail's token ids meaningful

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        actor = staff_actor(request)
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True):
            token_revoke(token_id=token.pk, actor=actor, ip=client_ip(request))
            revoked += 1
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("ts", "action", "actor", "ip", "meta")
    list_filter = ("action",)
    search_fields = ("action", "actor", "ip")
    date_hierarchy = "ts"
    ordering = ("-ts", "-id")
    readonly_fields = ("ts", "action", "actor", "ip", "meta")
    # The log is append-only from the admin; `prune_audit` applies the retention setting.
