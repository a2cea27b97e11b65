"""Forms of the setup wizard. They check input; the services do the writing."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation

from embed.services import LABEL_MAX
from setupwizard.models import Infra, Scenario

SCENARIO_HELP = {
    Scenario.SOLO: "One person, a few machines: usage accounting for yourself.",
    Scenario.TEAM: "A team sharing one Codex login and watching its spend together.",
    Scenario.ORG: "Several teams: many hosts, embeds on internal pages, strict access.",
}
INFRA_HELP = {
    Infra.SINGLE_NODE: "`make run` or one systemd service; SQLite is fine.",
    Infra.DOCKER_COMPOSE: "The server in a container beside PostgreSQL and Redis.",
    Infra.KUBERNETES: "Several replicas behind an ingress, PostgreSQL and Redis.",
    Infra.HEADLESS: "API only: after setup set HEADLESS=true, no dashboard is served.",
}


class AdminCreateForm(forms.Form):
    code = forms.CharField(
        label="Setup code",
        max_length=40,
        help_text="Printed in the server's log when this page was first opened.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    username = forms.CharField(
        label="Admin username",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username"}),
    )
    email = forms.EmailField(label="Email (optional)", required=False)
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"].strip()
        field = get_user_model()._meta.get_field("username")
        field.run_validators(username)  # Django's username rule (letters, digits, @.+-_)
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first and cleaned.get("username"):
            probe = get_user_model()(username=cleaned["username"], email=cleaned.get("email") or "")
            try:
                password_validation.validate_password(first, user=probe)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


def _choices(enum: type[Scenario] | type[Infra], helps: dict[Any, str]) -> list[tuple[str, str]]:
    return [(value, f"{label} — {helps[value]}") for value, label in enum.choices]


class ChoicesForm(forms.Form):
    scenario = forms.ChoiceField(
        label="Who will use tokenfleet?",
        choices=_choices(Scenario, SCENARIO_HELP),
        widget=forms.RadioSelect,
    )
    infra = forms.ChoiceField(
        label="Where does this server run?",
        choices=_choices(Infra, INFRA_HELP),
        widget=forms.RadioSelect,
    )


class MachinesForm(forms.Form):
    METHOD_TOKEN = "token"
    METHOD_HOST = "host"
    METHOD_SKIP = "skip"

    method = forms.ChoiceField(
        label="How should the first machine report?",
        widget=forms.RadioSelect,
        choices=[
            (
                METHOD_TOKEN,
                "An ingest token — the Claude Code / Codex usage collector on your own machines.",
            ),
            (
                METHOD_HOST,
                "Register a host — one installer link sets up cdx (shared Codex login) and the "
                "collector.",
            ),
            (METHOD_SKIP, "Not now — I will add machines later."),
        ],
    )
    user = forms.CharField(
        label="Usage is counted for user",
        max_length=100,
        required=False,
        help_text="The name usage from this token is attributed to.",
    )
    fqdn = forms.CharField(
        label="Host name (FQDN)",
        max_length=253,
        required=False,
        help_text="As the machine knows itself, e.g. build-01.example.com.",
    )
    owner = forms.CharField(label="Owner", max_length=100, required=False)
    embed_token = forms.BooleanField(
        label="Also issue an embed token (for a live usage widget on an internal web page)",
        required=False,
        initial=True,
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        method = cleaned.get("method")
        if method == self.METHOD_TOKEN and not (cleaned.get("user") or "").strip():
            self.add_error("user", "Name the user this token's usage belongs to.")
        if method == self.METHOD_HOST and not (cleaned.get("fqdn") or "").strip():
            self.add_error("fqdn", "Enter the host's name.")
        return cleaned


class EmbedOriginForm(forms.Form):
    origin = forms.CharField(
        label="Web origin allowed to embed usage",
        max_length=300,
        help_text="Scheme, host and port only, e.g. https://intranet.example.com",
        widget=forms.TextInput(attrs={"inputmode": "url", "spellcheck": "false"}),
    )
    label = forms.CharField(label="Label (optional)", max_length=LABEL_MAX, required=False)
