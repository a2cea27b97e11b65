"""Django admin for usage: records and rollups are read-only views; prices are editable.

Records and rollups change only through the services (ingest, reprice), which keep them equal;
an edit by hand here would break that, so these admins show and filter but never write.
"""

from __future__ import annotations

from django.contrib import admin

from accounts.services import audit_record
from usage.models import (
    ModelPrice,
    UsageDaily,
    UsageFamilyDaily,
    UsageFamilyHourly,
    UsageHourly,
    UsageMachineDaily,
    UsageMachineHourly,
    UsageRecord,
    UsageTotal,
    UsageUserDaily,
    UsageUserHourly,
)

COUNTER_COLUMNS = (
    "messages",
    "input",
    "cache_creation",
    "cache_read",
    "output",
    "tokens_weighted",
    "cost_usd",
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="cost (USD)", ordering="cost_micros")
    def cost_usd(self, obj) -> str:
        return f"{obj.cost_micros / 10**6:.6f}"


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = (
        "ts",
        "user",
        "machine",
        "model",
        "model_family",
        "source",
        "input",
        "cache_creation",
        "cache_read",
        "output",
        "cost_usd",
    )
    list_filter = ("source", "model_family", "user")
    search_fields = ("message_id", "request_id", "user", "machine", "model")
    date_hierarchy = "ts"
    ordering = ("-ts", "-id")
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is wasted


@admin.register(UsageHourly)
class UsageHourlyAdmin(ReadOnlyAdmin):
    list_display = ("hour", "user", "machine", "model", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    search_fields = ("user", "machine", "model")
    date_hierarchy = "hour"
    ordering = ("-hour",)
    show_full_result_count = False


@admin.register(UsageDaily)
class UsageDailyAdmin(ReadOnlyAdmin):
    list_display = ("day", "user", "machine", "model", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    search_fields = ("user", "machine", "model")
    date_hierarchy = "day"
    ordering = ("-day",)


@admin.register(UsageTotal)
class UsageTotalAdmin(ReadOnlyAdmin):
    list_display = ("user", "machine", "model", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    search_fields = ("user", "machine", "model")
    ordering = ("-cost_micros",)


@admin.register(UsageFamilyHourly)
class UsageFamilyHourlyAdmin(ReadOnlyAdmin):
    list_display = ("hour", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    date_hierarchy = "hour"
    ordering = ("-hour", "model_family")


@admin.register(UsageFamilyDaily)
class UsageFamilyDailyAdmin(ReadOnlyAdmin):
    list_display = ("day", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    date_hierarchy = "day"
    ordering = ("-day", "model_family")


@admin.register(UsageUserHourly)
class UsageUserHourlyAdmin(ReadOnlyAdmin):
    list_display = ("hour", "user", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    search_fields = ("user",)
    date_hierarchy = "hour"
    ordering = ("-hour", "user")


@admin.register(UsageUserDaily)
class UsageUserDailyAdmin(ReadOnlyAdmin):
    list_display = ("day", "user", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    search_fields = ("user",)
    date_hierarchy = "day"
    ordering = ("-day", "user")


@admin.register(UsageMachineHourly)
class UsageMachineHourlyAdmin(ReadOnlyAdmin):
    list_display = ("hour", "machine", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    search_fields = ("machine",)
    date_hierarchy = "hour"
    ordering = ("-hour", "machine")


@admin.register(UsageMachineDaily)
class UsageMachineDailyAdmin(ReadOnlyAdmin):
    list_display = ("day", "machine", "model_family", *COUNTER_COLUMNS)
    list_filter = ("model_family",)
    search_fields = ("machine",)
    date_hierarchy = "day"
    ordering = ("-day", "machine")


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """Edits take effect for new records at once; run `manage.py reprice` for stored ones."""

    list_display = (
        "model_prefix",
        "family",
        "provider",
        "effective_from",
        "input",
        "cache_write_5m",
        "cache_write_1h",
        "cache_read",
        "output",
        "long_context_threshold",
        "source",
    )
    list_filter = ("provider", "family", "source")
    search_fields = ("model_prefix", "family")
    ordering = ("model_prefix", "-effective_from")
    fieldsets = (
        (None, {"fields": ("model_prefix", "family", "provider", "effective_from", "source")}),
        (
            "USD per million tokens",
            {"fields": ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output")},
        ),
        (
            "Long context (whole request above the threshold)",
            {
                "fields": (
                    "long_context_threshold",
                    "lc_input",
                    "lc_cache_write_5m",
                    "lc_cache_write_1h",
                    "lc_cache_read",
                    "lc_output",
                )
            },
        ),
    )
    readonly_fields = ("source",)

    def save_model(self, request, obj, form, change) -> None:
        obj.source = "admin"
        super().save_model(request, obj, form, change)
        audit_record(
            action="pricing.refresh",
            request=request,
            meta={
                "kind": "admin",
                "model_prefix": obj.model_prefix,
                "effective_from": obj.effective_from.isoformat(),
                "changed": bool(change),
            },
        )
