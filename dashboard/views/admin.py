"""API tokens (issued once, revoked), embed origins, the audit log and settings (the API kill
switch, prices). Writes through accounts.services, embed.services, hosts.fleetauth.services and
usage.services.pricing, as the JSON routes do."""

from __future__ import annotations

from datetime import UTC

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.dashboard_access import staff_required
from dashboard.forms import (
    ApiStateForm,
    AuditFilterForm,
    EmbedOriginForm,
    PriceForm,
    TokenIssueForm,
)
from dashboard.views.common import back, call_service, no_store, who
from embed import selectors as embed_selectors
from embed import services as embed_services
from hosts import selectors as fleet_selectors
from hosts.fleetauth import services as auth_services
from usage import fleet_selectors as price_selectors
from usage import selectors as usage_selectors
from usage.services import pricing as pricing_services

AUDIT_PAGE = 50


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def tokens(request: HttpRequest) -> HttpResponse:
    """The tokens (hint only); a POST issues one and shows its plaintext on this answer, once."""
    form = TokenIssueForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        expires_at = data.get("expires_at")
        if expires_at is not None and expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        issued, _error = call_service(
            form,
            lambda: account_services.token_issue(
                user=data["user"],
                scope=data["scope"],
                label=data.get("label") or "",
                expires_at=expires_at,
                **who(request),
            ),
        )
        if issued is not None:
            form = TokenIssueForm()
    context = {
        "tokens": list(account_selectors.token_list()),
        "form": form,
        "issued": issued[0] if issued else None,
        "plaintext": issued[1] if issued else None,
    }
    status = 400 if request.method == "POST" and issued is None else 200
    response = render(request, "dashboard/tokens.html", context, status=status)
    return no_store(response) if issued else response


@require_POST
@staff_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token, error = call_service(
        None, lambda: account_services.token_revoke(token_id=token_id, **who(request))
    )
    if token is None:
        messages.error(request, error or "Not revoked.")
    else:
        messages.success(request, f"Revoked {token.hint}… ({token.scope} for {token.user}).")
    return back(request, "dashboard:tokens")


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def embed(request: HttpRequest) -> HttpResponse:
    form = EmbedOriginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        row, _error = call_service(
            form,
            lambda: embed_services.embed_origin_add(
                origin=form.cleaned_data["origin"],
                label=form.cleaned_data.get("label") or "",
                **who(request),
            ),
        )
        if row is not None:
            messages.success(request, f"{row.origin} may now embed live totals.")
            return back(request, "dashboard:embed")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "dashboard/embed.html",
        {"origins": list(embed_selectors.embed_origin_list()), "form": form},
        status=status,
    )


@require_POST
@staff_required
def embed_remove(request: HttpRequest, origin_id: int) -> HttpResponse:
    def remove() -> bool:
        embed_services.embed_origin_remove(origin_id=origin_id, **who(request))
        return True

    _done, error = call_service(None, remove)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, "Origin removed; its embeds stop at their next request.")
    return back(request, "dashboard:embed")


@require_safe
@staff_required
def audit(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    events = account_selectors.audit_search(
        action=data.get("action") or None,
        actor=data.get("actor") or None,
        before=data.get("before"),
        limit=AUDIT_PAGE + 1,
    )
    more = len(events) > AUDIT_PAGE
    events = events[:AUDIT_PAGE]
    query = request.GET.copy()
    next_query = None
    if more and events:
        query["before"] = str(events[-1].pk)
        next_query = query.urlencode()
    return render(
        request,
        "dashboard/audit.html",
        {
            "form": form,
            "events": events,
            "next_query": next_query,
            "paged": bool(data.get("before")),
            "filtered": bool(data.get("action") or data.get("actor")),
        },
    )


def _settings_context(price_form: PriceForm | None = None) -> dict:
    return {
        "api_disabled": fleet_selectors.fleet_state().api_disabled,
        "prices": price_selectors.prices_in_effect(),
        "unpriced": usage_selectors.unpriced_models(),
        "price_form": price_form or PriceForm(),
    }


@require_safe
@staff_required
def settings_page(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.GET.get("model"):
        initial["model_prefix"] = request.GET["model"][:200]
    return render(request, "dashboard/settings.html", _settings_context(PriceForm(initial=initial)))


@require_POST
@staff_required
def api_state(request: HttpRequest) -> HttpResponse:
    form = ApiStateForm(request.POST)
    form.is_valid()
    disabled = bool(form.cleaned_data.get("disabled"))
    _state, error = call_service(
        None, lambda: auth_services.api_state_set(disabled=disabled, **who(request))
    )
    if error:
        messages.error(request, error)
    elif disabled:
        messages.warning(
            request, "The host API is off: every host call answers 503 until you turn it on."
        )
    else:
        messages.success(request, "The host API is on again.")
    return back(request, "dashboard:settings")


@require_POST
@staff_required
def price_add(request: HttpRequest) -> HttpResponse:
    """A price set by hand (source `admin`): saved, audited and the records it prices re-rated
    by usage.services.pricing.price_save, as Django admin does."""
    form = PriceForm(request.POST)
    if form.is_valid():
        price = form.save(commit=False)
        result, _error = call_service(
            form, lambda: pricing_services.price_save(price=price, **who(request))
        )
        if result is not None:
            note = f"; re-rated {result.repriced:,} stored record(s)" if result.repriced else ""
            messages.success(request, f"Price for {price.model_prefix} saved{note}.")
            return back(request, "dashboard:settings")
    return render(request, "dashboard/settings.html", _settings_context(form), status=400)


@require_POST
@staff_required
def prices_refresh(request: HttpRequest) -> HttpResponse:
    summary, error = call_service(
        None, lambda: pricing_services.prices_refresh(actor=who(request)["actor"])
    )
    if summary is None:
        messages.error(request, error or "Prices were not refreshed.")
    else:
        messages.success(request, summary.line("PRICING_URL"))
    return back(request, "dashboard:settings")
