"""Overview (with its live fragment), usage with filters, and one user's detail."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_safe

from accounts.dashboard_access import staff_required
from core.time import epoch_ms
from dashboard import selectors
from dashboard.charts import bar_chart, series_bars
from dashboard.forms import UsageFilterForm
from dashboard.selectors import DEFAULT_RANGE
from dashboard.tables import breakdown_rows
from usage.serializers import totals_data


def _cost_chart(series, *, label: str, chart_id: str):
    return bar_chart(
        series_bars(series.bounds, [item.cost_usd for item in series.sums]),
        step_ms=series.step_ms,
        label=label,
        chart_id=chart_id,
    )


def _overview_context() -> dict:
    data = selectors.overview()
    return {
        "o": data,
        "all_time": totals_data(data.periods.all_time),
        "chart": _cost_chart(
            data.series, label="Cost per day, last 30 days (UTC)", chart_id="cost-30d"
        ),
        "chart_total": sum(item.cost_micros for item in data.series.sums),
    }


@require_safe
@staff_required
def overview(request: HttpRequest) -> HttpResponse:
    context = _overview_context()
    context["stream_url"] = reverse("usage-stream")
    context["fragment_url"] = reverse("dashboard:overview-live")
    return render(request, "dashboard/overview.html", context)


@require_safe
@staff_required
def overview_live(request: HttpRequest) -> HttpResponse:
    """The overview's live part alone: what the page swaps in after each `totals` event."""
    response = render(request, "dashboard/_overview_live.html", _overview_context())
    response["Cache-Control"] = "no-store"
    return response


@require_safe
@staff_required
def usage(request: HttpRequest) -> HttpResponse:
    form = UsageFilterForm(request.GET or None, initial={"range": DEFAULT_RANGE})
    filters = form.filters()
    flt = selectors.usage_filter(
        range_key=filters.range_key,
        user=filters.user,
        machine=filters.machine,
        family=filters.family,
    )
    page = selectors.usage_page(flt, range_key=filters.range_key)
    assert flt.ts_from is not None and flt.ts_to is not None
    query: dict[str, str | int] = {"from": epoch_ms(flt.ts_from), "to": epoch_ms(flt.ts_to)}
    for key, value in (
        ("user", flt.user),
        ("machine", flt.machine),
        ("model_family", flt.model_family),
    ):
        if value:
            query[key] = value
    range_label = selectors.RANGES[filters.range_key][0]
    kept = filters.kept()
    return render(
        request,
        "dashboard/usage.html",
        {
            "form": form,
            "filters": filters,
            "page": page,
            "breakdown_html": breakdown_rows(page.breakdown),
            "range_label": range_label,
            "chart": _cost_chart(
                page.series, label=f"Cost per bucket, last {range_label}", chart_id="cost-range"
            ),
            "csv_url": f"{reverse('usage-breakdown-csv')}?{urlencode(query)}",
            "json_url": f"{reverse('usage-breakdown')}?{urlencode(query)}",
            "presets": [
                (key, label, urlencode({"range": key, **kept}), key == filters.range_key)
                for key, (label, _length, _step) in selectors.RANGES.items()
            ],
        },
    )


@require_safe
@staff_required
def user(request: HttpRequest, name: str) -> HttpResponse:
    page = selectors.user_page(name)
    if page is None:
        raise Http404("No usage for this user.")
    return render(
        request,
        "dashboard/user.html",
        {
            "page": page,
            "name": name,
            "chart": _cost_chart(
                page.series, label=f"Cost per day of {name}, last 30 days", chart_id="cost-user"
            ),
        },
    )
