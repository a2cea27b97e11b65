"""System checks for operator mistakes in the environment. Ids are stable."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=False)
def check_trusted_proxies(app_configs=None, **kwargs):
    errors = []
    for entry in settings.TRUSTED_PROXIES:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"TRUSTED_PROXIES entry {entry!r} is not an IP address or CIDR.",
                    hint="Use comma-separated CIDRs such as 127.0.0.1/32,10.0.0.0/8.",
                    id="accounts.E001",
                )
            )
        else:
            if ipaddress.ip_network(entry.strip(), strict=False).prefixlen == 0:
                errors.append(
                    Warning(
                        f"TRUSTED_PROXIES entry {entry!r} trusts every address, so any client "
                        "can forge X-Forwarded-For.",
                        id="accounts.W001",
                    )
                )
    return errors


@register(Tags.security)
def check_encryption_keys(app_configs=None, **kwargs):
    errors = []
    for index, key in enumerate(settings.FIELD_ENCRYPTION_KEY):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            errors.append(
                Error(
                    f"FIELD_ENCRYPTION_KEY entry #{index + 1} is not a valid Fernet key.",
                    hint="Generate one with `python -c 'from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())'`.",
                    id="accounts.E002",
                )
            )
    return errors


@register()
def check_limits(app_configs=None, **kwargs):
    errors = []
    for name in (
        "RATE_LIMIT_PER_MINUTE",
        "AUTH_FAIL_LIMIT",
        "AUTH_FAIL_WINDOW_SECONDS",
        "INGEST_MAX_BATCH",
        "SSE_MIN_INTERVAL_MS",
        "INSTALL_TOKEN_TTL",
        "AUDIT_RETENTION_DAYS",
    ):
        value = getattr(settings, name)
        if value < 1:
            errors.append(Error(f"{name} must be at least 1 (it is {value}).", id="accounts.E003"))
    return errors


@register()
def check_urls(app_configs=None, **kwargs):
    errors = []
    for name in ("PUBLIC_BASE_URL", "PRICING_URL", "CHATGPT_BASE_URL", "CODEX_RELEASES_URL"):
        value = getattr(settings, name)
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors.append(
                Error(f"{name} must be an http(s) URL (it is {value!r}).", id="accounts.E004")
            )
    return errors


@register(Tags.security)
def check_allowed_hosts(app_configs=None, **kwargs):
    if not settings.DEBUG and "*" in settings.ALLOWED_HOSTS:
        return [
            Warning(
                "ALLOWED_HOSTS contains '*' with DEBUG off: any Host header is accepted.",
                hint="List the names the server answers to.",
                id="accounts.W002",
            )
        ]
    return []


@register(Tags.security)
def check_dashboard_mtls(app_configs=None, **kwargs):
    if settings.DASHBOARD_REQUIRE_MTLS and not settings.TRUSTED_PROXIES:
        return [
            Error(
                "DASHBOARD_REQUIRE_MTLS is on but TRUSTED_PROXIES is empty, so no mTLS header "
                "can ever be believed and the dashboard is unreachable.",
                id="accounts.E005",
            )
        ]
    return []
