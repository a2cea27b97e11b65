"""Canonical auth (status, history, upload), slash commands, ChatGPT quota and the runner.
Writes through hosts.fleetauth.services, hosts.delivery.services and hosts.runner.services."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.dashboard_access import staff_required
from core.errors import ApplicationError
from dashboard import selectors
from dashboard.forms import AuthUploadForm, RunnerRunForm
from dashboard.views.common import back, call_service, who
from hosts.delivery import selectors as delivery_selectors
from hosts.delivery import services as delivery_services
from hosts.fleetauth import services as auth_services
from hosts.fleetauth.authjson import AuthJsonError, normalise_auth
from hosts.runner import services as runner_services


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def auth(request: HttpRequest) -> HttpResponse:
    """The canonical login: current version, age, validity, history; a POST uploads an
    auth.json, validated exactly as `POST /admin/auth/upload` validates it."""
    form = AuthUploadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        outcome, _error = call_service(form, lambda: _upload(form.cleaned_data["auth"], request))
        if outcome is not None:
            if outcome.status == auth_services.UNCHANGED:
                messages.info(request, "That login is already the canonical one; nothing changed.")
            else:
                messages.success(
                    request,
                    "Uploaded: this login is now the canonical one; hosts pull it next run.",
                )
            return back(request, "dashboard:auth")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "dashboard/auth.html",
        {"page": selectors.auth_page(), "form": form},
        status=status,
    )


def _upload(raw, request: HttpRequest):
    try:
        auth_object, last_refresh = normalise_auth(raw)
    except AuthJsonError as exc:
        raise ApplicationError(
            "Validation failed.", status_code=422, fields={"auth": f"{exc.field}: {exc.message}"}
        ) from exc
    return auth_services.auth_upload(auth=auth_object, last_refresh=last_refresh, **who(request))


@require_safe
@staff_required
def slash(request: HttpRequest) -> HttpResponse:
    return render(
        request, "dashboard/slash.html", {"commands": delivery_selectors.slash_command_list()}
    )


@require_POST
@staff_required
def slash_retire(request: HttpRequest) -> HttpResponse:
    filename = request.POST.get("filename", "")
    command, error = call_service(
        None,
        lambda: delivery_services.slash_command_retire(filename=filename, **who(request)),
    )
    if command is None:
        messages.error(request, error or "Not retired.")
    else:
        messages.success(request, f"Retired {command.filename}; hosts remove it on their next run.")
    return back(request, "dashboard:slash")


@require_safe
@staff_required
def quota(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/quota.html", {"quota": selectors.quota_state()})


@require_http_methods(["GET", "HEAD", "POST"])
@staff_required
def runner(request: HttpRequest) -> HttpResponse:
    """Each step's schedule and last outcome, recent cycles; a POST runs one cycle now."""
    if request.method == "POST":
        form = RunnerRunForm(request.POST)
        form.is_valid()
        step = form.cleaned_data.get("step") or ""
        known = selectors.runner_step_names()
        if step and step not in known:
            messages.error(request, f"Unknown step {step}.")
            return back(request, "dashboard:runner")
        force = bool(form.cleaned_data.get("force"))
        cycle, error = call_service(
            None,
            lambda: runner_services.runner_run_now(
                force=force, only=[step] if step else None, **who(request)
            ),
        )
        if cycle is None:
            messages.error(request, error or "The cycle did not run.")
        else:
            ran = ", ".join(
                f"{entry['step']}: {entry['outcome']}"
                for entry in cycle.steps
                if entry.get("outcome") not in ("not_due", "disabled")
            )
            level = messages.success if cycle.outcome in ("ok", "idle") else messages.warning
            level(request, f"Cycle {cycle.outcome}. {ran or 'Nothing was due.'}")
        return back(request, "dashboard:runner")
    steps, cycles = selectors.runner_state()
    return render(
        request,
        "dashboard/runner.html",
        {"steps": steps, "cycles": cycles, "form": RunnerRunForm()},
    )
