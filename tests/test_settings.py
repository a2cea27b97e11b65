"""Settings: strict parsing (config/env.py) in-process, and whole-module imports in a subprocess
with a controlled environment (defaults, required secrets, NAME_FILE, the kept secrets)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import StrictEnv

ROOT = Path(__file__).resolve().parent.parent
FERNET_A = "bW9ja2tleW1vY2trZXltb2Nra2V5bW9ja2tleW1vY2s="
FERNET_B = "c2Vjb25ka2V5c2Vjb25ka2V5c2Vjb25ka2V5c2Vjb24="


# --- The strict reader, in-process --------------------------------------------------------------


def reader(**values: str) -> StrictEnv:
    return StrictEnv(environ_mapping=values)


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "yes", "on", " y "])
def test_it_reads_true_words(word):
    assert reader(FLAG=word).bool("FLAG", default=False) is True


@pytest.mark.parametrize("word", ["0", "false", "False", "no", "off", "n"])
def test_it_reads_false_words(word):
    assert reader(FLAG=word).bool("FLAG", default=True) is False


@pytest.mark.parametrize("word", ["ture", "flase", "2", "enabled", "yes please"])
def test_it_refuses_a_boolean_it_cannot_read(word):
    with pytest.raises(ImproperlyConfigured, match=f"FLAG={word!r} is not a boolean"):
        reader(FLAG=word).bool("FLAG", default=False)


def test_it_takes_a_blank_scalar_as_unset():
    env = reader(FLAG="", COUNT=" ")
    assert env.bool("FLAG", default=True) is True
    assert env.int("COUNT", default=7) == 7


@pytest.mark.parametrize(
    ("method", "raw", "expected"),
    [
        ("int", " 42 ", 42),
        ("float", "1e3", 1000.0),  # django-environ alone reads this as 13.0
        ("float", "2.5", 2.5),
    ],
)
def test_it_reads_numbers_exactly(method, raw, expected):
    assert getattr(reader(N=raw), method)("N", default=0) == expected


@pytest.mark.parametrize(
    ("method", "raw"), [("int", "abc"), ("int", "1.5"), ("float", "10s"), ("float", "nan")]
)
def test_it_refuses_a_number_it_cannot_read(method, raw):
    with pytest.raises(ImproperlyConfigured, match=f"N={raw!r} is not a valid"):
        getattr(reader(N=raw), method)("N", default=0)


def test_it_trims_list_items_and_keeps_an_empty_list_empty():
    assert reader(L=" a, b ,,c ").list("L", default=[]) == ["a", "b", "c"]
    assert reader(L="").list("L", default=["x"]) == []


def test_it_takes_a_dollar_literally():
    env = reader(KEY="$ecret", ecret="surprise")
    assert env.str("KEY", default="") == "$ecret"


def test_it_reads_name_file_without_the_trailing_newline(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cr3t\n")
    assert reader(KEY_FILE=str(secret)).str("KEY", default="") == "s3cr3t"


def test_it_refuses_name_and_name_file_together(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("a")
    with pytest.raises(ImproperlyConfigured, match="Set KEY or KEY_FILE, not both"):
        reader(KEY="b", KEY_FILE=str(secret)).str("KEY", default="")


def test_it_names_a_name_file_it_cannot_read(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="KEY_FILE=.*cannot be read"):
        reader(KEY_FILE=str(tmp_path / "missing")).str("KEY", default="")


def test_it_requires_a_variable_without_default():
    with pytest.raises(ImproperlyConfigured, match="Set the NEEDED environment variable"):
        reader().str("NEEDED")


# --- The settings module, imported in a clean process -----------------------------------------

PROBE = """
import json
from config import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "SECRET_KEY": s.SECRET_KEY,
    "FIELD_ENCRYPTION_KEY": s.FIELD_ENCRYPTION_KEY,
    "DASHBOARD_ADMIN_KEY": s.DASHBOARD_ADMIN_KEY,
    "DATABASE": {k: str(v) for k, v in s.DATABASES["default"].items() if k in ("ENGINE", "NAME")},
    "CACHE": s.CACHES["default"]["BACKEND"],
    "LIVE_REDIS": getattr(s, "LIVE_REDIS", None),
    "GRIP_MIDDLEWARE": "django_grip.GripMiddleware" in s.MIDDLEWARE,
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "SESSION_COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": s.CSRF_COOKIE_SECURE,
    "USAGE_API_PUBLIC": s.USAGE_API_PUBLIC,
    "RATE_LIMIT_PER_MINUTE": s.RATE_LIMIT_PER_MINUTE,
    "AUTH_FAIL_LIMIT": s.AUTH_FAIL_LIMIT,
    "AUTH_FAIL_WINDOW_SECONDS": s.AUTH_FAIL_WINDOW_SECONDS,
    "AUDIT_RETENTION_DAYS": s.AUDIT_RETENTION_DAYS,
    "TRUSTED_PROXIES": s.TRUSTED_PROXIES,
    "STATIC_ROOT": str(s.STATIC_ROOT),
}))
"""


def run_settings(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATA_DIR": str(tmp_path)}
    environment.update(variables)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )


def load_settings(tmp_path: Path, **variables: str) -> dict:
    result = run_settings(tmp_path, **variables)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refusal(tmp_path: Path, **variables: str) -> str:
    result = run_settings(tmp_path, **variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    return result.stderr.strip().splitlines()[-1]


SECRETS = {"SECRET_KEY": "k" * 50, "FIELD_ENCRYPTION_KEY": FERNET_A}


def test_it_has_secure_zero_setup_defaults(tmp_path):
    loaded = load_settings(tmp_path, **SECRETS)
    assert loaded["DEBUG"] is False
    assert loaded["DATABASE"] == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(tmp_path / "tokenfleet.sqlite3"),
    }
    assert loaded["CACHE"].endswith("LocMemCache") and loaded["LIVE_REDIS"] is None
    assert loaded["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert loaded["TRUSTED_PROXIES"] == []  # nothing trusted until the operator says so
    assert loaded["USAGE_API_PUBLIC"] is True
    assert (loaded["RATE_LIMIT_PER_MINUTE"], loaded["AUTH_FAIL_LIMIT"]) == (100, 30)
    assert loaded["AUTH_FAIL_WINDOW_SECONDS"] == 600
    assert loaded["SESSION_COOKIE_SECURE"] is False  # the zero-setup URL is plain http


def test_it_follows_the_public_url_for_host_and_cookies(tmp_path):
    loaded = load_settings(tmp_path, PUBLIC_BASE_URL="https://Fleet.Example.com/", **SECRETS)
    assert "fleet.example.com" in loaded["ALLOWED_HOSTS"]
    assert loaded["SESSION_COOKIE_SECURE"] is True and loaded["CSRF_COOKIE_SECURE"] is True
    explicit = load_settings(tmp_path, ALLOWED_HOSTS="a.example, b.example", **SECRETS)
    assert explicit["ALLOWED_HOSTS"] == ["a.example", "b.example"]


def test_it_uses_redis_for_cache_and_live_events_when_redis_url_is_set(tmp_path):
    loaded = load_settings(tmp_path, REDIS_URL="redis://127.0.0.1:6379/5", **SECRETS)
    assert loaded["CACHE"].endswith("RedisCache")
    assert loaded["LIVE_REDIS"]["db"] == 5


def test_it_hands_streams_to_pushpin_only_when_grip_url_is_set(tmp_path):
    assert load_settings(tmp_path, **SECRETS)["GRIP_MIDDLEWARE"] is False
    grip = load_settings(tmp_path, GRIP_URL="http://127.0.0.1:5561?key=abc", **SECRETS)
    assert grip["GRIP_MIDDLEWARE"] is True


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEBUG", "ture"), ("USAGE_API_PUBLIC", "nope"), ("DASHBOARD_REQUIRE_MTLS", "2")],
)
def test_it_refuses_a_mistyped_boolean_at_start_up(tmp_path, name, value):
    assert f"{name}={value!r} is not a boolean" in refusal(tmp_path, **{name: value}, **SECRETS)


@pytest.mark.parametrize(
    ("name", "value"), [("RATE_LIMIT_PER_MINUTE", "100/min"), ("AUTH_FAIL_LIMIT", "thirty")]
)
def test_it_refuses_a_mistyped_number_at_start_up(tmp_path, name, value):
    assert f"{name}={value!r} is not a valid int" in refusal(tmp_path, **{name: value}, **SECRETS)


def test_it_refuses_an_unknown_log_level(tmp_path):
    assert "LOG_LEVEL" in refusal(tmp_path, LOG_LEVEL="LOUD", **SECRETS)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_it_refuses_to_start_without_a_secret_when_debug_is_off(tmp_path, missing):
    present = {name: value for name, value in SECRETS.items() if name != missing}
    message = refusal(tmp_path, **present)
    assert f"{missing} is required when DEBUG is off" in message
    assert "make run" in message
    assert not (tmp_path / missing.lower()).exists()  # nothing generated behind the operator's back


def test_it_generates_and_keeps_development_secrets_with_debug_on(tmp_path):
    first = load_settings(tmp_path, DEBUG="true")
    second = load_settings(tmp_path, DEBUG="true")
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and len(first["SECRET_KEY"]) >= 50
    assert "insecure" not in first["SECRET_KEY"]
    assert first["FIELD_ENCRYPTION_KEY"] == second["FIELD_ENCRYPTION_KEY"]
    for name in ("secret_key", "field_encryption_key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


def test_it_uses_the_secrets_make_run_kept_with_debug_off(tmp_path):
    (tmp_path / "secret_key").write_text("kept-secret-key\n")
    (tmp_path / "field_encryption_key").write_text(FERNET_A + "\n")
    loaded = load_settings(tmp_path)
    assert loaded["SECRET_KEY"] == "kept-secret-key"
    assert loaded["FIELD_ENCRYPTION_KEY"] == [FERNET_A]
    # The environment wins over a kept file.
    assert load_settings(tmp_path, SECRET_KEY="from-env")["SECRET_KEY"] == "from-env"


def test_it_reads_every_secret_from_a_name_file(tmp_path):
    files = tmp_path / "run-secrets"
    files.mkdir()
    (files / "secret").write_text("file-secret-key\n")
    (files / "fernet").write_text(f"{FERNET_B}, {FERNET_A}\n")
    (files / "admin").write_text("dashboard-key-from-file\n")
    (files / "db").write_text(f"sqlite:///{tmp_path / 'other.sqlite3'}\n")
    loaded = load_settings(
        tmp_path,
        SECRET_KEY_FILE=str(files / "secret"),
        FIELD_ENCRYPTION_KEY_FILE=str(files / "fernet"),
        DASHBOARD_ADMIN_KEY_FILE=str(files / "admin"),
        DATABASE_URL_FILE=str(files / "db"),
    )
    assert loaded["SECRET_KEY"] == "file-secret-key"
    assert loaded["FIELD_ENCRYPTION_KEY"] == [FERNET_B, FERNET_A]
    assert loaded["DASHBOARD_ADMIN_KEY"] == "dashboard-key-from-file"
    assert loaded["DATABASE"]["NAME"] == str(tmp_path / "other.sqlite3")


def test_it_refuses_a_name_file_that_is_missing(tmp_path):
    message = refusal(tmp_path, SECRET_KEY_FILE=str(tmp_path / "nope"), FIELD_ENCRYPTION_KEY="x")
    assert "SECRET_KEY_FILE=" in message and "cannot be read" in message


def test_it_refuses_a_secret_given_twice(tmp_path):
    path = tmp_path / "secret"
    path.write_text("one")
    message = refusal(
        tmp_path, SECRET_KEY="two", SECRET_KEY_FILE=str(path), **{"FIELD_ENCRYPTION_KEY": FERNET_A}
    )
    assert "Set SECRET_KEY or SECRET_KEY_FILE, not both" in message
