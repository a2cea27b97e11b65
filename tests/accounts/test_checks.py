"""System checks for operator mistakes: each one fires on its mistake and stays quiet otherwise."""

from __future__ import annotations

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

GOOD_KEY = "bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s="


def accounts_ids(**settings) -> list[str]:
    with override_settings(**settings):
        messages = checks.run_checks(include_deployment_checks=False)
    ids = [str(message.id) for message in messages]
    return sorted(found for found in ids if found.startswith("accounts."))


def test_it_is_quiet_for_the_test_configuration():
    assert accounts_ids() == []


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"TRUSTED_PROXIES": ["10.0.0.0/8", "10.0.0.300"]}, ["accounts.E001"]),
        ({"TRUSTED_PROXIES": ["proxy.internal"]}, ["accounts.E001"]),
        ({"TRUSTED_PROXIES": ["0.0.0.0/0"]}, ["accounts.W001"]),
        ({"TRUSTED_PROXIES": ["::/0"]}, ["accounts.W001"]),
        ({"FIELD_ENCRYPTION_KEY": [GOOD_KEY, "not-a-fernet-key"]}, ["accounts.E002"]),
        ({"RATE_LIMIT_PER_MINUTE": 0}, ["accounts.E003"]),
        ({"AUTH_FAIL_LIMIT": -1}, ["accounts.E003"]),
        ({"AUDIT_RETENTION_DAYS": 0}, ["accounts.E003"]),
        ({"UPSTREAM_TIMEOUT_SECONDS": 0.0}, ["accounts.E003"]),
        ({"PUBLIC_BASE_URL": "fleet.example.com"}, ["accounts.E004"]),
        ({"PRICING_URL": "ftp://prices.example.com/x.json"}, ["accounts.E004"]),
        ({"CHATGPT_BASE_URL": "http://"}, ["accounts.E004"]),
        ({"CODEX_OAUTH_TOKEN_URL": "http://[::1"}, ["accounts.E004"]),
        ({"DASHBOARD_REQUIRE_MTLS": True, "TRUSTED_PROXIES": []}, ["accounts.E005"]),
        ({"ADMIN_MTLS_HEADER": "X_MTLS_PRESENT"}, ["accounts.E006"]),
        ({"ADMIN_MTLS_HEADER": "X mTLS"}, ["accounts.E006"]),
        ({"ADMIN_MTLS_HEADER": ""}, ["accounts.E006"]),
        ({"REDIS_URL": "127.0.0.1:6379"}, ["accounts.E007"]),
        ({"REDIS_URL": "http://127.0.0.1:6379/0"}, ["accounts.E007"]),
        ({"DEBUG": False, "ALLOWED_HOSTS": ["*"]}, ["accounts.W002"]),
        (
            {"PUBLIC_BASE_URL": "https://fleet.example.com", "ALLOWED_HOSTS": ["localhost"]},
            ["accounts.W003"],
        ),
        (
            {"PUBLIC_BASE_URL": "http://127.0.0.1:8000", "SESSION_COOKIE_SECURE": True},
            ["accounts.W004"],
        ),
        ({"DASHBOARD_ADMIN_KEY": "short"}, ["accounts.W005"]),
        ({"TRUSTED_PROXIES": ["unix:/run/tokenfleet/gunicorn.sock"]}, ["accounts.E001"]),
        ({"DEBUG": False, "PUBLIC_BASE_URL_SET": False}, ["accounts.W006"]),
        ({"SECURE_SSL_REDIRECT": True, "TRUSTED_PROXIES": []}, ["accounts.W007"]),
    ],
)
def test_it_reports_each_operator_mistake_with_a_stable_id(settings, expected):
    assert accounts_ids(**settings) == expected


@pytest.mark.parametrize(
    "settings",
    [
        {"TRUSTED_PROXIES": []},
        {"TRUSTED_PROXIES": ["10.0.0.1", "fd00::/8"]},
        {"DASHBOARD_REQUIRE_MTLS": True, "TRUSTED_PROXIES": ["unix"]},
        {"TRUSTED_PROXIES": ["unix", "UNIX", "10.0.0.5/32"]},
        {"DEBUG": True, "PUBLIC_BASE_URL_SET": False},
        {"SECURE_SSL_REDIRECT": True, "TRUSTED_PROXIES": ["unix"]},
        {"REDIS_URL": "redis://127.0.0.1:6379/3"},
        {"REDIS_URL": "unix:///run/redis.sock"},
        {"DEBUG": True, "ALLOWED_HOSTS": ["*"]},
        {"PUBLIC_BASE_URL": "https://fleet.example.com", "ALLOWED_HOSTS": [".example.com"]},
        {
            "PUBLIC_BASE_URL": "https://fleet.example.com",
            "ALLOWED_HOSTS": ["fleet.example.com"],
            "SESSION_COOKIE_SECURE": True,
        },
        {"ADMIN_MTLS_HEADER": "X-Client-Verified"},
        {"DASHBOARD_ADMIN_KEY": "x" * 16},
        {"FIELD_ENCRYPTION_KEY": [GOOD_KEY, GOOD_KEY.replace("b", "c")]},
    ],
)
def test_it_accepts_sound_configurations(settings):
    assert accounts_ids(**settings) == []


def test_it_stops_manage_py_on_an_error_but_not_on_a_warning():
    with (
        override_settings(TRUSTED_PROXIES=["not-a-network"]),
        pytest.raises(SystemCheckError, match="accounts.E001"),
    ):
        call_command("check")
    with override_settings(DASHBOARD_ADMIN_KEY="short"):
        call_command("check")
