"""tokenfleet settings: one module, every knob an environment variable (see README)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from config import bootstrap

# One strict reader (config/env.py): booleans and numbers must parse, `NAME_FILE` works for
# every variable, values are literal.
from config.env import env

# Generic Django classes (ModelAdmin[Host], QuerySet[...]) subscriptable at run time, as mypy
# with django-stubs reads them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = bootstrap.data_dir()


DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"


def _secret(name: str) -> str:
    """From the environment, else the file `make run` keeps in DATA_DIR; generated only in DEBUG."""
    value = env.str(name, default="").strip()
    if value:
        return value
    kept = bootstrap.read_kept_secret(name, DATA_DIR)
    if kept:
        return kept
    if DEBUG:
        return bootstrap.ensure_secret(name, DATA_DIR)[0]
    raise ImproperlyConfigured(
        f"{name} is required when DEBUG is off: set {name} or {name}_FILE "
        "(`python -m config.bootstrap --print` makes new values), or start once with "
        f"`make run`, which generates one into {bootstrap.secret_path(name, DATA_DIR)}."
    )


SECRET_KEY = _secret("SECRET_KEY")
# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
FIELD_ENCRYPTION_KEY = [key.strip() for key in _secret("FIELD_ENCRYPTION_KEY").split(",")]
FIELD_ENCRYPTION_KEY = [key for key in FIELD_ENCRYPTION_KEY if key]

# The URL hosts and browsers reach this server by (installer links, baked cdx wrappers, CSRF
# origin). `make run` derives it from BIND; production sets it (accounts.W006 warns otherwise).
PUBLIC_BASE_URL_SET = bool(env.str("PUBLIC_BASE_URL", default="").strip())
PUBLIC_BASE_URL = (
    env.str("PUBLIC_BASE_URL", default="").strip() or DEFAULT_PUBLIC_BASE_URL
).rstrip("/")
try:
    _public_host = urlsplit(PUBLIC_BASE_URL).hostname or ""
except ValueError:  # malformed; the accounts.E004 check reports it
    _public_host = ""
if ":" in _public_host:
    _public_host = f"[{_public_host}]"  # Django matches IPv6 hosts in brackets
# The public name is allowed by default, so setting PUBLIC_BASE_URL alone is enough.
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS",
    default=[h for h in dict.fromkeys(["localhost", "127.0.0.1", "[::1]", _public_host]) if h],
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_BASE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files for /api/docs, served by us (no CDN)
    "django_eventstream",
    "django_prometheus",
    "core",
    "accounts",
    "usage",
    "hosts",
    "embed",
    "setupwizard",
    "dashboard",
]

MIDDLEWARE = [
    # Forwarded headers from anyone but a trusted proxy are dropped before anything reads them.
    "core.middleware.ForwardedHeadersMiddleware",
    # django-prometheus request metrics: first and last, to time the whole stack.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.RequestIdMiddleware",
    # Outermost after the request id, so error pages any later middleware makes are JSON too.
    "core.middleware.ApiErrorMiddleware",
    # HEADLESS=true: every HTML route is a JSON 404 (API only).
    "core.headless.HeadlessMiddleware",
    # CORS for /api/usage/* (wigtoken's widget): inside the error middleware, whose JSON error
    # pages keep the CORS headers (see its _KEPT_HEADERS).
    "embed.access.UsageCorsMiddleware",
    # Oversized bodies and NUL in the path or query: refused before anything reads them.
    "core.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # django-prometheus' own, without its per-request header parsing and label lookups.
    "core.prometheus.PrometheusAfterMiddleware",
]
if env.str("GRIP_URL", default=""):
    # request.grip: whether Pushpin signed the request, and the hold instructions as headers.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("core.middleware.RequestGuardMiddleware") + 1, "django_grip.GripMiddleware"
    )

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.dashboard",
            ],
        },
    },
]

# --- Database: SQLite in the data directory unless DATABASE_URL says otherwise.
if not env.str("DATABASE_URL", default=""):
    DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'tokenfleet.sqlite3'}"),
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the ingest writer and the readers share the file.
    _db.setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
    _db["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
else:
    _db.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=0))
    _db["CONN_HEALTH_CHECKS"] = True
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend; a persistent connection in steady use skips the per-request ping.
        _db["ENGINE"] = "core.db.postgresql"
    # No parallel query workers, set once per connection (a startup option, no round trip): the
    # usage reads' UNION ALL of rollup levels tempts the planner into parallel plans whose worker
    # start-up costs several times the read (14 ms against 2 ms), and the request/response
    # queries here are all short. Set per read instead, it cost three more round trips a read
    # (BEGIN, SET LOCAL, COMMIT).
    _options = _db.setdefault("OPTIONS", {})
    _options["options"] = " ".join(
        filter(None, [_options.get("options", ""), "-c max_parallel_workers_per_gather=0"])
    )
    # Under ASGI each request runs in a thread of its own, so a persistent connection is never
    # reused and every request starts a new PostgreSQL backend (~10 ms on a small machine).
    # DB_POOL keeps a pool per worker process instead (Django pools only without persistent
    # connections); while the database is down a request then waits up to 5 s for a connection.
    if env.bool("DB_POOL", default=False):
        if _db["CONN_MAX_AGE"] != 0:
            raise ImproperlyConfigured("DB_POOL needs DB_CONN_MAX_AGE=0 (pooled or persistent).")
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env.int("DB_POOL_MAX_SIZE", default=10),
            "timeout": 5,
        }
if env.str("TEST_DB_NAME", default=""):
    _db.setdefault("TEST", {})["NAME"] = env.str("TEST_DB_NAME")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate-limit counters, cooldowns): Redis when REDIS_URL is set, so workers share it.
REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="tokenfleet")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's Redis backend, reusing its client; counters in one round trip.
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "tokenfleet",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# Encoded breakdown answers kept per process until usage data changes (usage/bodycache.py). The
# data version lives in the cache, so it needs REDIS_URL once other processes write usage.
USAGE_BODY_CACHE = env.bool("USAGE_BODY_CACHE", default=bool(REDIS_URL))

# --- Live updates (usage/live/). Redis fans change nudges out across workers and servers.
SSE_MIN_INTERVAL_MS = env.int("SSE_MIN_INTERVAL_MS", default=500)
# A comment line on idle streams, so proxies and browsers keep them open (the design asks for
# at most 20 s); and the reconnect delay hinted to EventSource clients with `retry:`.
SSE_KEEPALIVE_SECONDS = env.float("SSE_KEEPALIVE_SECONDS", default=15.0)
SSE_RETRY_MS = env.int("SSE_RETRY_MS", default=3000)
EVENTSTREAM_ALLOW_ORIGINS: list[str] = []  # the embed views check origins themselves
# Streams held by Pushpin (usage/live/grip.py): Pushpin's publish address and the key it signs
# with, `http://127.0.0.1:5561?iss=pushpin&key=<secret>` (`make run-production` and deploy/ set
# it; `python -m config.pushpin` writes Pushpin's side from it). Unset, the ASGI server streams.
GRIP_URL = env.str("GRIP_URL", default="")
if REDIS_URL:
    from redis.connection import parse_url

    # usage/live/ passes these straight to redis.Redis(**kwargs). The timeouts bound how long an
    # after-commit publish can wait on an unreachable Redis; `retry: None` turns off redis-py's
    # silent reconnect-with-backoff, which would both stall an ingest and hide from usage.live
    # that its subscription was gone (and events with it). Not EVENTSTREAM_REDIS: with that set,
    # django-eventstream's send_event publishes to Redis before Pushpin, for no reader.
    LIVE_REDIS = {
        **parse_url(REDIS_URL),
        "socket_connect_timeout": 2,
        "socket_timeout": 2,
        "retry": None,
    }

# --- Access and identity.
# Peers whose X-Forwarded-For/-Proto, mTLS header and X-Request-Id are believed (core.client_ip):
# CIDRs, and `unix` for the proxy on the server's Unix socket. Nothing by default: on a shared
# machine loopback is every local user.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
ADMIN_MTLS_HEADER = env.str("ADMIN_MTLS_HEADER", default="X-mTLS-Present")
DASHBOARD_ADMIN_KEY = env.str("DASHBOARD_ADMIN_KEY", default="")
DASHBOARD_REQUIRE_MTLS = env.bool("DASHBOARD_REQUIRE_MTLS", default=False)
HEADLESS = env.bool("HEADLESS", default=False)
# The dashboard's session login (accounts/dashboard_access.py).
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
USAGE_API_PUBLIC = env.bool("USAGE_API_PUBLIC", default=True)
RATE_LIMIT_PER_MINUTE = env.int("RATE_LIMIT_PER_MINUTE", default=100)
AUTH_FAIL_LIMIT = env.int("AUTH_FAIL_LIMIT", default=30)
AUTH_FAIL_WINDOW_SECONDS = env.int("AUTH_FAIL_WINDOW_SECONDS", default=600)
INGEST_MAX_BATCH = env.int("INGEST_MAX_BATCH", default=1000)
# --- Per-client limits (config/asgi.py, usage.live, accounts.throttles).
# The largest body any route accepts (a full ingest batch is well under 1 MiB, a slash-command
# prompt at most 256 K characters); larger answers 413 before the body is read.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=4 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# Seconds a client has to send its request headers, and then its whole body (408 after).
REQUEST_HEADER_TIMEOUT = env.float("REQUEST_HEADER_TIMEOUT", default=10.0)
REQUEST_BODY_TIMEOUT = env.float("REQUEST_BODY_TIMEOUT", default=30.0)
# Open SSE streams at once per client IP and per token (429 beyond).
STREAMS_PER_IP = env.int("STREAMS_PER_IP", default=20)
STREAMS_PER_TOKEN = env.int("STREAMS_PER_TOKEN", default=20)
# Requests per minute per client IP for calls without a credential (public reads, /versions).
ANON_RATE_LIMIT_PER_MINUTE = env.int("ANON_RATE_LIMIT_PER_MINUTE", default=300)
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
INSTALL_TOKEN_TTL = env.int("INSTALL_TOKEN_TTL", default=1800)

# --- Upstreams we do not own: settings, so tests point them at a local fake server.
PRICING_URL = env.str(
    "PRICING_URL",
    default="https://raw.githubusercontent.com/BerriAI/litellm/main/model_prices_and_context_window.json",
)
CHATGPT_BASE_URL = env.str("CHATGPT_BASE_URL", default="https://chatgpt.com/backend-api").rstrip(
    "/"
)
CODEX_RELEASES_URL = env.str(
    "CODEX_RELEASES_URL", default="https://api.github.com/repos/openai/codex/releases/latest"
)
# Where cdx updates Codex from, announced in `/auth` `versions.client_update`: the npm package for
# npm installs, else the release asset for the host's platform ({version}, {target} filled in).
CODEX_NPM_PACKAGE = env.str("CODEX_NPM_PACKAGE", default="@openai/codex")
CODEX_ASSET_URL = env.str(
    "CODEX_ASSET_URL",
    default="https://github.com/openai/codex/releases/download/rust-v{version}/codex-{target}.tar.gz",
)
CODEX_OAUTH_TOKEN_URL = env.str(
    "CODEX_OAUTH_TOKEN_URL", default="https://auth.openai.com/oauth/token"
)
CODEX_OAUTH_CLIENT_ID = env.str("CODEX_OAUTH_CLIENT_ID", default="app_EMoamEEZ73f0CkXaXp7hrann")
AUTH_REFRESH_AHEAD = env.int("AUTH_REFRESH_AHEAD", default=3600)
UPSTREAM_TIMEOUT_SECONDS = env.float("UPSTREAM_TIMEOUT_SECONDS", default=10.0)
# `manage.py runner`: seconds between looks for due or requested steps (one small query each).
RUNNER_POLL_SECONDS = env.float("RUNNER_POLL_SECONDS", default=5.0)

# --- Security defaults.
SESSION_COOKIE_HTTPONLY = True
# Secure cookies whenever the public URL is https; over plain http a browser would drop them and
# every login and form would fail (the zero-setup server is http://127.0.0.1:8000).
_HTTPS = PUBLIC_BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_HTTPS)
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind the TLS proxy (deploy/): the scheme comes from its X-Forwarded-Proto, believed only from a
# trusted proxy (core.middleware.ForwardedHeadersMiddleware drops it from anyone else).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# /health answers plain http on the socket too, for probes that bypass the proxy.
SECURE_REDIRECT_EXEMPT = [r"^health$"]
if GRIP_URL:
    # Pushpin forwards the streams over loopback; its X-Forwarded-Proto is believed only when
    # its own peer is trusted (core.client_ip), and redirecting would send Pushpin a 301. nginx
    # has done TLS in front of it.
    SECURE_REDIRECT_EXEMPT += [r"^api/usage/stream$", r"^embed/stream$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Check ids an operator has decided to accept (for example security.W021 without HSTS preload).
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "hosts.authentication.HostKeyAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.DenyAll"],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.throttles.CredentialRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "core.openapi.DialectAutoSchema",
}
# The OpenAPI description (core/openapi.py; docs/openapi.yaml is generated by `make openapi`).
SPECTACULAR_SETTINGS = {
    "TITLE": "tokenfleet API",
    "DESCRIPTION": "Both dialects of one server: the usage dialect (/api/*, /embed/*, /metrics, "
    '/health; bare JSON, errors as {"error": ...}) and the fleet dialect (/auth, /usage, '
    '/wrapper*, /slash-commands*, /versions, /install/*, /admin/*; a {"status": ...} '
    "envelope, validation errors 422). Field-by-field notes: docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.add_plain_routes",
    ],
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names (admin/css/base.<hash>.css) that whitenoise serves as immutable for a year,
    # so a deploy never meets a browser's stale copy; `collectstatic` writes the manifest.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").strip().upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r}: use DEBUG, INFO, WARNING or ERROR.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.middleware.RequestIdLogFilter"},
        "redact": {"()": "core.logfilters.RedactSecretsFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False}},
}
