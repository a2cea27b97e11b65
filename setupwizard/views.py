"""The setup wizard (HTML): first admin, scenario and infrastructure, first machine, embed
origin, finish. Every write goes through a service of the owning app and is audited.

Step one is open on a fresh install only (no staff user) and needs the one-time setup code from
the server's log; every later step needs a signed-in staff user (accounts.dashboard_access).
What the wizard has chosen so far lives in the session until `setup_complete` records it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.authentication import record_auth_failure
from accounts.dashboard_access import dashboard_denial, require_dashboard_mtls, staff_required
from accounts.selectors import staff_user_exists
from accounts.services import request_actor, token_issue
from core import ratelimit
from core.client_ip import client_ip
from core.errors import ApplicationError
from embed.selectors import embed_origin_list
from embed.services import embed_origin_add
from hosts.delivery.installer import installer_link
from hosts.delivery.services import host_register
from setupwizard import commands, services
from setupwizard.forms import AdminCreateForm, ChoicesForm, EmbedOriginForm, MachinesForm
from setupwizard.models import Infra, Scenario
from setupwizard.selectors import setup_status

SESSION_KEY = "setupwizard"
STEPS = (
    ("start", "Admin"),
    ("choices", "Scenario"),
    ("machines", "First machine"),
    ("embed", "Embed origin"),
    ("finish", "Finish"),
)
NEW_CODE_LIMIT = 5  # per client IP and 10 minutes
TOO_MANY_CODES = "Too many wrong setup codes from your address. Try again in {minutes} minute(s)."


def _steps(current: str) -> list[dict[str, Any]]:
    names = [name for name, _label in STEPS]
    index = names.index(current)
    return [
        {"label": label, "current": name == current, "done": position < index}
        for position, (name, label) in enumerate(STEPS)
    ]


def _page(
    request: HttpRequest, template: str, step: str, context: dict[str, Any] | None = None
) -> HttpResponse:
    return render(
        request, f"setupwizard/{template}", {"steps": _steps(step), "step": step, **(context or {})}
    )


def _wizard(request: HttpRequest) -> dict[str, Any]:
    state: dict[str, Any] = request.session.get(SESSION_KEY) or {}
    return state


def _remember(request: HttpRequest, **values: Any) -> None:
    state = _wizard(request)
    state.update(values)
    request.session[SESSION_KEY] = state


def _form_errors(form: forms.Form, error: ApplicationError, field_map: dict[str, str]) -> None:
    """A service's refusal shown on the form: its fields on the matching inputs."""
    if not error.fields:
        form.add_error(None, error.message)
        return
    for field, problem in error.fields.items():
        target = field_map.get(field, field)
        form.add_error(target if target in form.fields else None, str(problem))


def _actor(request: HttpRequest) -> dict[str, Any]:
    return {"actor": request_actor(request), "ip": client_ip(request)}


# --- step 1: the first admin ------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    require_dashboard_mtls(request)
    if staff_user_exists():
        denial = dashboard_denial(request)
        if denial is not None:
            return denial
        return redirect("setupwizard:choices")
    services.setup_code_ensure()
    form = AdminCreateForm(request.POST or None)
    if request.method == "POST":
        ip = client_ip(request)
        verdict = ratelimit.auth_failures_blocked(ip)
        if not verdict.allowed:
            minutes = max(1, -(-verdict.retry_after // 60))
            form.add_error(None, TOO_MANY_CODES.format(minutes=minutes))
        elif form.is_valid():
            data = form.cleaned_data
            try:
                user = services.setup_admin_create(
                    code=data["code"],
                    username=data["username"],
                    password=data["password1"],
                    email=data.get("email") or "",
                    ip=ip,
                )
            except ApplicationError as error:
                if error.status_code == 409:
                    messages.info(request, error.message)
                    return redirect(settings.LOGIN_URL)
                if error.status_code == 403:
                    record_auth_failure(
                        request, reason="wrong setup code", credential_kind="setup_code"
                    )
                _form_errors(form, error, {})
            else:
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
                messages.success(request, f"Admin {user.get_username()} created and signed in.")
                return redirect("setupwizard:choices")
    return _page(request, "start.html", "start", {"form": form})


@require_POST
def new_code(request: HttpRequest) -> HttpResponse:
    """Print a fresh setup code to the log (the first one scrolled away, or a restart lost it)."""
    require_dashboard_mtls(request)
    if staff_user_exists():
        return redirect("setupwizard:start")
    ip = client_ip(request)
    if ratelimit.hit(f"setupcode:new:{ip or '-'}", limit=NEW_CODE_LIMIT, window=600).allowed:
        services.setup_code_issue(reason="requested from the wizard", ip=ip)
        messages.info(request, "A new setup code is in the server's log; the old one is void.")
    else:
        messages.error(request, "Too many new codes requested; use the last one from the log.")
    return redirect("setupwizard:start")


# --- step 2: scenario and infrastructure ---------------------------------------------------------


def _current_choices(request: HttpRequest) -> dict[str, str]:
    state = _wizard(request)
    status = setup_status()
    return {
        "scenario": state.get("scenario") or status.scenario or "",
        "infra": state.get("infra") or status.infra or "",
    }


@staff_required
@require_http_methods(["GET", "HEAD", "POST"])
def choices(request: HttpRequest) -> HttpResponse:
    form = ChoicesForm(request.POST or None, initial=_current_choices(request))
    if request.method == "POST" and form.is_valid():
        _remember(request, scenario=form.cleaned_data["scenario"], infra=form.cleaned_data["infra"])
        return redirect("setupwizard:machines")
    return _page(request, "choices.html", "choices", {"form": form})


# --- step 3: the first machine -------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "HEAD", "POST"])
def machines(request: HttpRequest) -> HttpResponse:
    username = request.user.get_username()
    scenario = _current_choices(request)["scenario"]
    initial = {
        "method": MachinesForm.METHOD_TOKEN
        if scenario in ("", Scenario.SOLO)
        else MachinesForm.METHOD_HOST,
        "user": username,
        "owner": username,
        "embed_token": True,
    }
    form = MachinesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            issued = _issue_for_machines(request, form.cleaned_data)
        except ApplicationError as error:
            _form_errors(form, error, {"user": "user", "fqdn": "fqdn", "owner": "owner"})
        else:
            summary = [
                {k: v for k, v in item.items() if k in ("kind", "name", "hint")} for item in issued
            ]
            _remember(request, issued=_wizard(request).get("issued", []) + summary)
            # Shown once, in this answer: the plaintexts are not stored anywhere.
            return _page(request, "machines_done.html", "machines", {"issued": issued})
    return _page(request, "machines.html", "machines", {"form": form})


def _issue_for_machines(request: HttpRequest, data: dict[str, Any]) -> list[dict[str, Any]]:
    who = _actor(request)
    issued: list[dict[str, Any]] = []
    method = data["method"]
    embed_user = request.user.get_username()
    if method == MachinesForm.METHOD_HOST:
        owner = (data.get("owner") or "").strip() or None
        registration = host_register(fqdn=data["fqdn"], owner=owner, **who)
        url, command = installer_link(registration.installer_token)
        issued.append(
            {
                "kind": "host",
                "name": registration.host.fqdn,
                "hint": registration.host.api_key_hint,
                "command": command,
                "expires_at": registration.installer.expires_at,
                "rotated": registration.rotated,
            }
        )
        embed_user = owner or embed_user
    elif method == MachinesForm.METHOD_TOKEN:
        user = data["user"].strip()
        token, plaintext = token_issue(user=user, scope="ingest", label="setup wizard", **who)
        issued.append(
            {
                "kind": "ingest token",
                "name": user,
                "hint": token.hint,
                "token": plaintext,
                "command": commands.collector_commands(ingest_token=plaintext),
            }
        )
        embed_user = user
    if data.get("embed_token"):
        token, plaintext = token_issue(
            user=embed_user, scope="embed", label="setup wizard embed", **who
        )
        issued.append(
            {
                "kind": "embed token",
                "name": embed_user,
                "hint": token.hint,
                "token": plaintext,
                "command": commands.embed_snippet(embed_token=plaintext),
            }
        )
    return issued


# --- step 4: an embed origin ---------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "HEAD", "POST"])
def embed(request: HttpRequest) -> HttpResponse:
    form = EmbedOriginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            row = embed_origin_add(
                origin=form.cleaned_data["origin"],
                label=form.cleaned_data.get("label") or "",
                **_actor(request),
            )
        except ApplicationError as error:
            if error.status_code == 409:
                form.add_error("origin", error.message)
            else:
                _form_errors(form, error, {})
        else:
            messages.success(request, f"{row.origin} may now embed usage.")
            return redirect("setupwizard:finish")
    origins = list(embed_origin_list()[:20])
    return _page(request, "embed.html", "embed", {"form": form, "origins": origins})


# --- step 5: finish -------------------------------------------------------------------------------


@staff_required
@require_http_methods(["GET", "HEAD", "POST"])
def finish(request: HttpRequest) -> HttpResponse:
    chosen = _current_choices(request)
    if request.method == "POST":
        if not (chosen["scenario"] and chosen["infra"]):
            messages.error(request, "Choose a scenario and an infrastructure first.")
            return redirect("setupwizard:choices")
        services.setup_complete(
            scenario=chosen["scenario"], infra=chosen["infra"], **_actor(request)
        )
        request.session.pop(SESSION_KEY, None)
        messages.success(request, "Setup complete.")
        return redirect("/")
    context = {
        "scenario": _label(Scenario, chosen["scenario"]),
        "infra": _label(Infra, chosen["infra"]),
        "infra_notes": commands.INFRA_NOTES.get(chosen["infra"], []),
        "issued": _wizard(request).get("issued", []),
        "origins": list(embed_origin_list()[:20]),
        "collector_commands": commands.collector_commands(),
        "embed_snippet": commands.embed_snippet(),
        "status": setup_status(),
        "ready": bool(chosen["scenario"] and chosen["infra"]),
    }
    return _page(request, "finish.html", "finish", context)


def _label(enum: type[Scenario] | type[Infra], value: str) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return ""
