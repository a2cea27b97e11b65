"""Hosts: the table, register (the install command shown once), rotate, roaming, status, clear,
delete with confirmation, and one host's detail. Writes through hosts.delivery.services and
hosts.fleetadmin.services, as `/admin/hosts/*` does."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.dashboard_access import staff_required
from dashboard import selectors
from dashboard.forms import HostRegisterForm, RoamingForm, StatusForm
from dashboard.views.common import back, call_service, no_store, who
from hosts.delivery import services as delivery_services
from hosts.fleetadmin import services as fleet_services


def _before(request: HttpRequest) -> int | None:
    value = request.GET.get("before", "")
    return int(value) if value.isdigit() else None


def _hosts_context(request: HttpRequest, form: HostRegisterForm) -> dict:
    return {
        "page": selectors.hosts_page(before=_before(request)),
        "form": form,
        # Row links and actions are this prefix + "<id>/…" (dashboard/urls.py): one reverse()
        # for the page instead of three per row.
        "hosts_url": reverse("dashboard:hosts"),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def hosts(request: HttpRequest) -> HttpResponse:
    """The table; a POST registers a host (or rotates the key of a known FQDN) and shows its
    install command on the answer itself: once, never stored in the page or the session."""
    if request.method != "POST":
        return render(request, "dashboard/hosts.html", _hosts_context(request, HostRegisterForm()))
    form = HostRegisterForm(request.POST)
    if form.is_valid():
        registration, _error = call_service(
            form,
            lambda: delivery_services.host_register(
                fqdn=form.cleaned_data["fqdn"],
                owner=form.cleaned_data["owner"] or None,
                **who(request),
            ),
        )
        if registration is not None:
            return _registered(request, registration)
    return render(request, "dashboard/hosts.html", _hosts_context(request, form), status=400)


def _registered(request: HttpRequest, registration) -> HttpResponse:
    url = f"{settings.PUBLIC_BASE_URL}/install/{registration.installer_token}"
    response = render(
        request,
        "dashboard/host_registered.html",
        {
            "registration": registration,
            "host": registration.host,
            "command": f'curl -fsSL "{url}" | bash',
            "expires_at": registration.installer.expires_at,
        },
    )
    return no_store(response)


@require_POST
@staff_required
def host_rotate(request: HttpRequest, host_id: int) -> HttpResponse:
    page = selectors.host_page(host_id)
    if page is None:
        raise Http404("Host not found.")
    registration, error = call_service(
        None,
        lambda: delivery_services.host_register(fqdn=page.row.host.fqdn, **who(request)),
    )
    if registration is None:
        messages.error(request, error or "The key could not be rotated.")
        return back(request, "dashboard:host", host_id)
    return _registered(request, registration)


@require_POST
@staff_required
def host_roaming(request: HttpRequest, host_id: int) -> HttpResponse:
    form = RoamingForm(request.POST)
    form.is_valid()
    allow = bool(form.cleaned_data.get("allow"))
    host, error = call_service(
        None,
        lambda: fleet_services.host_roaming_set(host_id=host_id, allow=allow, **who(request)),
    )
    if host is None:
        messages.error(request, error or "Not changed.")
    else:
        state = "may now roam between IPs" if allow else "is bound to one IP again"
        messages.success(request, f"{host.fqdn} {state}.")
    return back(request, "dashboard:hosts")


@require_POST
@staff_required
def host_status(request: HttpRequest, host_id: int) -> HttpResponse:
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose active or disabled.")
        return back(request, "dashboard:hosts")
    status = form.cleaned_data["status"]
    host, error = call_service(
        None,
        lambda: fleet_services.host_status_set(host_id=host_id, status=status, **who(request)),
    )
    if host is None:
        messages.error(request, error or "Not changed.")
    else:
        messages.success(request, f"{host.fqdn} is {status}.")
    return back(request, "dashboard:hosts")


@require_POST
@staff_required
def host_clear(request: HttpRequest, host_id: int) -> HttpResponse:
    host, error = call_service(
        None, lambda: fleet_services.host_auth_clear(host_id=host_id, **who(request))
    )
    if host is None:
        messages.error(request, error or "Not cleared.")
    else:
        messages.success(
            request, f"Cleared what {host.fqdn} held of the login; it syncs afresh on its next run."
        )
    return back(request, "dashboard:host", host_id)


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def host_delete(request: HttpRequest, host_id: int) -> HttpResponse:
    """GET asks for confirmation (works without JS); POST deletes."""
    page = selectors.host_page(host_id)
    if page is None:
        raise Http404("Host not found.")
    if request.method != "POST":
        return render(request, "dashboard/host_delete.html", {"host": page.row.host})
    deleted, error = call_service(
        None, lambda: fleet_services.host_delete(host_id=host_id, **who(request))
    )
    if deleted is None:
        messages.error(request, error or "Not deleted.")
        return back(request, "dashboard:host", host_id)
    messages.success(request, f"Deleted {deleted['fqdn']}; its usage stays counted.")
    return back(request, "dashboard:hosts")


@require_safe
@staff_required
def host(request: HttpRequest, host_id: int) -> HttpResponse:
    page = selectors.host_page(host_id)
    if page is None:
        raise Http404("Host not found.")
    return render(request, "dashboard/host.html", {"page": page, "host": page.row.host})
