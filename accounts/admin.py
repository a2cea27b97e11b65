from django.contrib import admin

from accounts.models import ApiToken, AuditEvent


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "hint",
        "user",
        "scope",
        "label",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("scope",)
    search_fields = ("user", "label", "hint")
    readonly_fields = ("token_hash", "hint", "created_at", "created_by", "last_used_at")

    def has_add_permission(self, request) -> bool:
        return False  # tokens are issued by the API or `issue_token`, which show the plaintext once


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("ts", "action", "actor", "ip")
    list_filter = ("action",)
    search_fields = ("action", "actor", "ip")
    date_hierarchy = "ts"
    readonly_fields = ("ts", "action", "actor", "ip", "meta")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
