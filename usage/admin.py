"""Django admin for usage: records and rollups are read-only views; prices are editable.

Records and rollups change only through the services (ingest, reprice), which keep them equal;
an edit by hand here would break that, so these admins show and filter but never write.
"""

from __future__ import annotations

from django.contrib import admin, messages

from accounts.services import staff_actor
from core.admin import ReadOnlyAdmin
from core.client_ip import client_ip
from usage.models import ModelPrice, UsageRecord
from usage.rollups import LEVELS, Level
from usage.services.pricing import PriceOverride, price_delete, price_save

COUNTER_COLUMNS = (
    "messages",
    "input",
    "cache_creation",
    "cache_read",
    "output",
    "tokens_weighted",
    "cost_usd",
)


class CountersAdmin(ReadOnlyAdmin):
    @admin.display(description="cost (USD)", ordering="cost_micros")
    def cost_usd(self, obj) -> str:
        return f"{obj.cost_micros / 10**6:.6f}"


@admin.register(UsageRecord)
class UsageRecordAdmin(CountersAdmin):
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


def _rollup_admin(level: Level) -> type[CountersAdmin]:
    """A read-only admin for one rollup level: its key, family and counters."""
    dims = tuple(name for name in level.dims if name != "model_family")
    columns = (*((level.bucket,) if level.bucket else ()), *dims, "model_family")

    class RollupAdmin(CountersAdmin):
        list_display = (*columns, *COUNTER_COLUMNS)
        list_filter = ("model_family",)
        search_fields = dims
        date_hierarchy = level.bucket
        ordering = (f"-{level.bucket}", *dims) if level.bucket else ("-cost_micros",)
        show_full_result_count = False  # COUNT(*) over the hourly levels on every page is waste

    RollupAdmin.__name__ = f"{level.model.__name__}Admin"
    return RollupAdmin


for _level in LEVELS:
    admin.site.register(_level.model, _rollup_admin(_level))


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """Operator overrides: saved with source `admin`, audited, and the stored records the row
    prices (from its `effective_from` on) re-rated at once, with a `repriced` count."""

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
        # Saved, re-rated and audited by the service; the admin only reports the count.
        self._report(
            request, price_save(price=obj, actor=staff_actor(request), ip=client_ip(request))
        )

    def delete_model(self, request, obj) -> None:
        self._report(
            request,
            price_delete(prices=[obj], actor=staff_actor(request), ip=client_ip(request)),
        )

    def delete_queryset(self, request, queryset) -> None:
        self._report(
            request,
            price_delete(prices=list(queryset), actor=staff_actor(request), ip=client_ip(request)),
        )

    def _report(self, request, result: PriceOverride) -> None:
        if result.repriced:
            usd = result.delta_micros / 10**6
            self.message_user(
                request,
                f"repriced {result.repriced} stored record(s); cost change {usd:+.6f} USD",
                messages.INFO,
            )
