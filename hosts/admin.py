"""Django admin for the fleet. Ciphertexts and key hashes are never shown as editable; secrets
are issued and rotated by the API (which shows a plaintext once), not here."""

from __future__ import annotations

from django.contrib import admin

from accounts.services import staff_actor
from core.admin import NoAddInlineMixin
from core.admin import ReadOnlyAdmin as BaseReadOnlyAdmin
from core.client_ip import client_ip
from hosts.fleetadmin import services as fleet_services
from hosts.models import (
    CanonicalAuth,
    ChatGptUsageSnapshot,
    ClientVersionCache,
    FleetSetting,
    Host,
    HostAuthDigest,
    HostAuthState,
    InstallerToken,
    SlashCommand,
)


class ReadOnlyAdmin(BaseReadOnlyAdmin):
    """Rows written only by services (with their audit events); the admin may look and delete."""

    deletable = True


class HostAuthStateInline(NoAddInlineMixin, admin.StackedInline):
    model = HostAuthState
    can_delete = False
    readonly_fields = ("last_refresh", "last_refresh_ns", "digest", "last_status", "updated_at")


class HostAuthDigestInline(NoAddInlineMixin, admin.TabularInline):
    model = HostAuthDigest
    can_delete = False  # POST /admin/hosts/<id>/clear forgets them, audited
    readonly_fields = ("digest", "last_refresh", "seen_at")


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = (
        "fqdn",
        "owner",
        "status",
        "bound_ip",
        "allow_roaming_ips",
        "client_version",
        "wrapper_version",
        "api_calls",
        "last_seen_at",
    )
    list_filter = ("status", "allow_roaming_ips")
    search_fields = ("fqdn", "owner", "bound_ip", "api_key_hint")
    # Owner, status, roaming and the bound IP (clear it to let the host bind afresh) are the
    # operator's to change, each through its audited service (hosts.fleetadmin.services); the
    # key is registered and rotated through /admin/hosts/register.
    fields = (
        "fqdn",
        "owner",
        "status",
        "allow_roaming_ips",
        "bound_ip",
        "api_key_hint",
        "client_version",
        "wrapper_version",
        "api_calls",
        "last_seen_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = tuple(name for name in fields if name not in fleet_services.OPERATOR_FIELDS)
    inlines = (HostAuthStateInline, HostAuthDigestInline)

    def has_add_permission(self, request) -> bool:
        return False  # a host without its one-time plaintext key would be unusable

    def save_model(self, request, obj, form, change) -> None:
        """Never a plain `save()`: each changed field goes through its audited service."""
        changes = {
            field: form.cleaned_data[field]
            for field in form.changed_data
            if field in fleet_services.OPERATOR_FIELDS
        }
        if changes:
            fleet_services.host_fields_set(
                host_id=obj.pk,
                changes=changes,
                actor=staff_actor(request),
                ip=client_ip(request),
            )

    def delete_model(self, request, obj) -> None:
        fleet_services.host_delete(
            host_id=obj.pk, actor=staff_actor(request), ip=client_ip(request)
        )

    def delete_queryset(self, request, queryset) -> None:
        for host in queryset:
            self.delete_model(request, host)


@admin.register(CanonicalAuth)
class CanonicalAuthAdmin(ReadOnlyAdmin):
    list_display = ("digest", "last_refresh", "is_current", "source", "source_host", "created_at")
    list_filter = ("is_current", "source")
    search_fields = ("digest",)
    fields = (
        "digest",
        "last_refresh",
        "last_refresh_ns",
        "is_current",
        "source",
        "source_host",
        "created_at",
    )
    readonly_fields = fields


@admin.register(HostAuthState)
class HostAuthStateAdmin(ReadOnlyAdmin):
    list_display = ("host", "last_status", "last_refresh", "digest", "updated_at")
    list_filter = ("last_status",)
    search_fields = ("host__fqdn", "digest")
    readonly_fields = ("host", "last_refresh", "last_refresh_ns", "digest", "last_status")


@admin.register(HostAuthDigest)
class HostAuthDigestAdmin(ReadOnlyAdmin):
    list_display = ("host", "digest", "last_refresh", "seen_at")
    search_fields = ("host__fqdn", "digest")
    readonly_fields = ("host", "digest", "last_refresh", "seen_at")


@admin.register(InstallerToken)
class InstallerTokenAdmin(ReadOnlyAdmin):
    list_display = ("host", "created_at", "expires_at", "used_at", "used_ip")
    list_filter = ("used_at",)
    search_fields = ("host__fqdn",)
    fields = ("host", "created_at", "expires_at", "used_at", "used_ip")
    readonly_fields = fields


@admin.register(SlashCommand)
class SlashCommandAdmin(ReadOnlyAdmin):
    list_display = ("filename", "description", "argument_hint", "sha256", "updated_at")
    search_fields = ("filename", "description")
    readonly_fields = (
        "filename",
        "description",
        "argument_hint",
        "sha256",
        "prompt",
        "source_host",
        "created_at",
        "updated_at",
    )


@admin.register(ChatGptUsageSnapshot)
class ChatGptUsageSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("fetched_at", "ok", "plan_type", "error")
    list_filter = ("ok", "plan_type")
    readonly_fields = ("fetched_at", "auth_digest", "ok", "plan_type", "payload", "error")


@admin.register(ClientVersionCache)
class ClientVersionCacheAdmin(ReadOnlyAdmin):
    """Deleting the row makes the next /versions ask GitHub again."""

    list_display = ("key", "version", "checked_at", "next_attempt_at", "last_error")
    readonly_fields = ("key", "version", "checked_at", "next_attempt_at", "last_error")


@admin.register(FleetSetting)
class FleetSettingAdmin(ReadOnlyAdmin):
    """Flags change through /admin/api/state so every change is audited."""

    list_display = ("key", "value", "updated_at")
    readonly_fields = ("key", "value", "updated_at")
