"""System checks for operator mistakes in the environment. Ids are stable."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlparse

from cryptography.fernet import Fernet
from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.http.request import validate_host

from core.client_ip import parse_trusted_entry

# RFC 9110 token characters, minus "_" (nginx and others drop headers with underscores).
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^`|~-]+")
MIN_ADMIN_KEY_LENGTH = 16


@register(Tags.security, deploy=False)
def check_trusted_proxies(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for entry in settings.TRUSTED_PROXIES:
        parsed = parse_trusted_entry(entry)
        if parsed is None:
            errors.append(
                Error(
                    f"TRUSTED_PROXIES entry {entry!r} is not an IP address, a CIDR or `unix`.",
                    hint="Use `unix` for a proxy on the server's Unix socket, or CIDRs such as "
                    "10.0.0.5/32 for a proxy on another machine.",
                    id="accounts.E001",
                )
            )
        elif not isinstance(parsed, str) and parsed.prefixlen == 0:
            errors.append(
                Warning(
                    f"TRUSTED_PROXIES entry {entry!r} trusts every address, so any client "
                    "can forge X-Forwarded-For.",
                    id="accounts.W001",
                )
            )
    return errors


@register(Tags.security)
def check_encryption_keys(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
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
def check_limits(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    timeout = settings.UPSTREAM_TIMEOUT_SECONDS
    if timeout <= 0:
        errors.append(
            Error(
                f"UPSTREAM_TIMEOUT_SECONDS must be positive (it is {timeout}).", id="accounts.E003"
            )
        )
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
def check_urls(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in (
        "PUBLIC_BASE_URL",
        "PRICING_URL",
        "CHATGPT_BASE_URL",
        "CODEX_RELEASES_URL",
        "CODEX_OAUTH_TOKEN_URL",
    ):
        value = getattr(settings, name)
        try:
            parsed = urlparse(value)
            valid = parsed.scheme in ("http", "https") and bool(parsed.hostname)
        except ValueError:
            valid = False
        if not valid:
            errors.append(
                Error(f"{name} must be an http(s) URL (it is {value!r}).", id="accounts.E004")
            )
    return errors


@register(Tags.security)
def check_allowed_hosts(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
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
def check_dashboard_mtls(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    if settings.DASHBOARD_REQUIRE_MTLS and not settings.TRUSTED_PROXIES:
        return [
            Error(
                "DASHBOARD_REQUIRE_MTLS is on but TRUSTED_PROXIES is empty, so no mTLS header "
                "can ever be believed and the dashboard is unreachable.",
                id="accounts.E005",
            )
        ]
    return []


@register(Tags.security)
def check_mtls_header_name(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    name = settings.ADMIN_MTLS_HEADER
    if not _HEADER_NAME.fullmatch(name or ""):
        return [
            Error(
                f"ADMIN_MTLS_HEADER {name!r} is not an HTTP header name.",
                hint="Use letters, digits and hyphens, e.g. X-mTLS-Present (servers drop "
                "headers with underscores).",
                id="accounts.E006",
            )
        ]
    return []


@register()
def check_redis_url(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    url = settings.REDIS_URL
    if url and urlparse(url).scheme not in ("redis", "rediss", "unix"):
        return [
            Error(
                "REDIS_URL must start with redis://, rediss:// or unix://.",
                hint="For example redis://127.0.0.1:6379/0.",
                id="accounts.E007",
            )
        ]
    return []


@register()
def check_public_host_allowed(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    try:
        host = urlparse(settings.PUBLIC_BASE_URL).hostname
    except ValueError:
        return []  # accounts.E004 reports the URL itself
    if not host:
        return []
    if ":" in host:
        host = f"[{host}]"
    if validate_host(host, settings.ALLOWED_HOSTS):
        return []
    return [
        Warning(
            f"The host of PUBLIC_BASE_URL ({host}) is not in ALLOWED_HOSTS, so requests to the "
            "public URL (installer links, embeds) are refused with 400.",
            hint="Add it to ALLOWED_HOSTS, or leave ALLOWED_HOSTS unset to allow it by default.",
            id="accounts.W003",
        )
    ]


@register(Tags.security)
def check_secure_cookies_over_http(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    if settings.PUBLIC_BASE_URL.startswith("https://"):
        return []
    names = [
        name for name in ("SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE") if getattr(settings, name)
    ]
    if not names:
        return []
    return [
        Warning(
            f"{' and '.join(names)} on while PUBLIC_BASE_URL is plain http: browsers drop "
            "secure cookies there, so dashboard logins and forms fail.",
            hint="Serve over https and set PUBLIC_BASE_URL=https://..., or leave the cookie "
            "settings unset.",
            id="accounts.W004",
        )
    ]


@register(Tags.security)
def check_dashboard_admin_key(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    key = settings.DASHBOARD_ADMIN_KEY
    if key and len(key) < MIN_ADMIN_KEY_LENGTH:
        return [
            Warning(
                f"DASHBOARD_ADMIN_KEY is shorter than {MIN_ADMIN_KEY_LENGTH} characters.",
                hint="Generate one with `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`.",
                id="accounts.W005",
            )
        ]
    return []


@register(Tags.security)
def check_public_base_url_set(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    if settings.DEBUG or settings.PUBLIC_BASE_URL_SET:
        return []
    return [
        Warning(
            f"PUBLIC_BASE_URL is not set, so installer links and baked cdx wrappers point at "
            f"{settings.PUBLIC_BASE_URL}.",
            hint="Set PUBLIC_BASE_URL to the https:// URL hosts reach this server by "
            "(`make run` derives it from BIND).",
            id="accounts.W006",
        )
    ]


@register(Tags.security)
def check_ssl_redirect_needs_a_proxy(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    if not settings.SECURE_SSL_REDIRECT or settings.TRUSTED_PROXIES:
        return []
    return [
        Warning(
            "SECURE_SSL_REDIRECT is on but TRUSTED_PROXIES is empty: no X-Forwarded-Proto is "
            "believed, so every request behind a TLS proxy looks like http and is redirected "
            "again and again.",
            hint="Set TRUSTED_PROXIES=unix (the proxy on the Unix socket) or the proxy's CIDR.",
            id="accounts.W007",
        )
    ]
