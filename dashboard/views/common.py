"""What the dashboard views share: the actor, mapping service errors onto forms, safe returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.services import request_actor
from core.client_ip import client_ip
from core.errors import ApplicationError

T = TypeVar("T")


def who(request: HttpRequest) -> dict[str, Any]:
    """The actor and IP every service call of the dashboard is audited with."""
    return {"actor": request_actor(request), "ip": client_ip(request)}


def call_service(form: forms.BaseForm | None, call: Callable[[], T]) -> tuple[T | None, str | None]:
    """Run `call`: (result, None), or on a refusal (ApplicationError) (None, its message). With
    a `form`, the refusal's fields go onto the form's fields they name, the rest onto the form."""
    try:
        return call(), None
    except ApplicationError as exc:
        leftovers = []
        for name, problem in (exc.fields or {}).items():
            text = (
                " ".join(map(str, problem)) if isinstance(problem, list | tuple) else str(problem)
            )
            key = _form_field(form, name) if form is not None else None
            if form is not None and key is not None:
                form.add_error(key, text)
            else:
                leftovers.append(f"{name}: {text}")
        message = exc.message + (f" ({'; '.join(leftovers)})" if leftovers else "")
        if form is not None and (leftovers or not exc.fields):
            form.add_error(None, message)
        return None, message


_FIELD_ALIASES = {"expiresAt": "expires_at", "model_family": "family"}


def _form_field(form: forms.BaseForm, name: str) -> str | None:
    name = _FIELD_ALIASES.get(name, name)
    return name if name in form.fields else None


def back(request: HttpRequest, default: str, *args: Any) -> HttpResponseRedirect:
    """Redirect to the form's `next` (a path on this site), else to `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return HttpResponseRedirect(resolve_url(default, *args))


def no_store(response: HttpResponse) -> HttpResponse:
    """For answers that show a secret once: never cached, never restored from history."""
    response["Cache-Control"] = "no-store"
    return response
