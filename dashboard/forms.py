"""Dashboard forms. They check shapes only; the services called with their data own the rules
(and their ApplicationError fields are put back on the form, see views/common.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django import forms
from django.utils import timezone

from accounts.models import Scope
from dashboard.selectors import DEFAULT_RANGE, RANGES
from usage.models import ModelPrice


@dataclass(frozen=True)
class UsageChoice:
    """What the usage page shows: a range preset and optional filters."""

    range_key: str
    user: str | None = None
    machine: str | None = None
    family: str | None = None

    def kept(self) -> dict[str, str]:
        """The filters as query parameters (for links that change only the range)."""
        pairs = {"user": self.user, "machine": self.machine, "family": self.family}
        return {key: value for key, value in pairs.items() if value}


class UsageFilterForm(forms.Form):
    range = forms.ChoiceField(
        choices=[(key, label) for key, (label, _length, _step) in RANGES.items()],
        required=False,
        initial=DEFAULT_RANGE,
    )
    user = forms.CharField(max_length=100, required=False)
    machine = forms.CharField(max_length=100, required=False)
    family = forms.CharField(max_length=50, required=False, label="Model family")

    def filters(self) -> UsageChoice:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return UsageChoice(
            range_key=data.get("range") or DEFAULT_RANGE,
            user=data.get("user") or None,
            machine=data.get("machine") or None,
            family=data.get("family") or None,
        )


class HostRegisterForm(forms.Form):
    fqdn = forms.CharField(
        label="Host name (FQDN)",
        max_length=255,
        help_text="The machine's fully qualified name, e.g. build-01.example.com.",
    )
    owner = forms.CharField(
        max_length=100,
        required=False,
        help_text="Who uses it; its usage is counted for this user (default: the host name).",
    )


class RoamingForm(forms.Form):
    allow = forms.BooleanField(required=False)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[("active", "active"), ("disabled", "disabled")])


class TokenIssueForm(forms.Form):
    user = forms.CharField(
        max_length=100, help_text="Whose token: usage ingested with it counts for this user."
    )
    scope = forms.ChoiceField(choices=Scope.choices, initial=Scope.INGEST)
    label = forms.CharField(max_length=200, required=False, help_text="What it is for.")
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (UTC)",
        help_text="Optional; must be in the future.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )


class EmbedOriginForm(forms.Form):
    origin = forms.CharField(
        max_length=255, help_text="scheme://host[:port], e.g. https://intranet.example.com"
    )
    label = forms.CharField(max_length=200, required=False)


class AuthUploadForm(forms.Form):
    auth = forms.CharField(
        label="auth.json",
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "autocomplete": "off"}),
        help_text="Paste the content of ~/.codex/auth.json from a machine signed in to ChatGPT.",
    )

    def clean_auth(self):
        text = self.cleaned_data["auth"]
        try:
            return json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from None


class RunnerRunForm(forms.Form):
    force = forms.BooleanField(required=False, help_text="Run every step, due or not.")
    step = forms.CharField(required=False, max_length=50)


class ApiStateForm(forms.Form):
    disabled = forms.BooleanField(required=False)


class AuditFilterForm(forms.Form):
    action = forms.CharField(
        max_length=64, required=False, help_text="An action or its start, e.g. host. or token.issue"
    )
    actor = forms.CharField(max_length=200, required=False)
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class PriceForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = [
            "model_prefix",
            "family",
            "provider",
            "effective_from",
            "input",
            "cache_write_5m",
            "cache_write_1h",
            "cache_read",
            "output",
        ]
        labels = {
            "model_prefix": "Model id or prefix",
            "effective_from": "In effect from (UTC)",
            "input": "Input $/M",
            "cache_write_5m": "Cache write 5 min $/M",
            "cache_write_1h": "Cache write 1 h $/M",
            "cache_read": "Cache read $/M",
            "output": "Output $/M",
        }
        widgets = {
            "effective_from": forms.DateTimeInput(
                attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
            ),
        }
        help_texts = {
            "model_prefix": "The longest matching prefix prices a model, e.g. claude-opus-4-6.",
            "family": "Groups models on the dashboard: opus, sonnet, gpt-5, ...",
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].required = False
        if not self.is_bound and "effective_from" not in self.initial:
            self.initial["effective_from"] = timezone.now().replace(second=0, microsecond=0)
