"""The canonical `auth.json`: RFC 3339 at full precision, the digest rule, `auths`, token quality.

Pure functions, no database. Everything here raises `AuthJsonError(field, message)` for input a
client must fix; the views turn it into a 422 in the fleet dialect.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.hashing import sha256_hex
from core.time import EPOCH
from core.validation import DATE_MAX, DATE_MIN, json_problem

NS_PER_SECOND = 1_000_000_000
# 2000-01-01T00:00:00Z: nothing Codex wrote can be older; earlier values are clock or parse bugs.
EARLIEST_NS = calendar.timegm((2000, 1, 1, 0, 0, 0)) * NS_PER_SECOND
# What a host reports it holds (retrieve) may run a little ahead of our clock; what it offers
# as the fleet's login (store, upload) may not: a login dated ahead would outrank every genuine
# refresh until that moment.
FUTURE_SLACK_NS = 5 * 60 * NS_PER_SECOND
STORE_FUTURE_SLACK_NS = 0
# Where OpenAI's JWTs carry the ChatGPT account.
JWT_AUTH_CLAIM = "https://api.openai.com/auth"
JWT_ACCOUNT_KEY = "chatgpt_account_id"

# RFC 3339 `date-time` (section 5.6): `T` and `Z` may be lower case; at most nanoseconds, which is
# what Codex writes and what an integer epoch-nanosecond comparison can hold.
_RFC3339_RE = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})$"
)
_DIGEST_RE = re.compile(r"^[0-9a-fA-F]{64}$")

TOKEN_MIN_LENGTH = 24
TOKEN_MIN_DISTINCT = 6
SYNTH_AUTHS_HOST = "api.openai.com"
# Fragments that only ever appear in example or redacted values, never in a real credential.
_PLACEHOLDER_FRAGMENTS = (
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "your_token",
    "your-token",
    "yourtoken",
    "your_api_key",
    "your-api-key",
    "redacted",
    "example",
    "dummy",
    "notarealtoken",
    "not_a_real",
    "not-a-real",
    "insert_",
    "token_here",
    "key_here",
    "...",
    "\u2026",
)
_PLACEHOLDER_MARKERS = ("<", ">", "${", "{{", "}}", "*")


class AuthJsonError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Rfc3339:
    text: str  # exactly as the client sent it
    ns: int  # epoch nanoseconds


def parse_rfc3339(
    value: Any,
    *,
    field: str = "last_refresh",
    now_ns: int | None = None,
    future_slack_ns: int = FUTURE_SLACK_NS,
) -> Rfc3339:
    """Parse an RFC 3339 timestamp to integer epoch nanoseconds, within the accepted range."""
    if not isinstance(value, str) or not value:
        raise AuthJsonError(field, "Must be an RFC 3339 timestamp string.")
    match = _RFC3339_RE.match(value)
    if match is None:
        raise AuthJsonError(
            field, "Must be an RFC 3339 timestamp such as 2026-11-20T10:00:00.123456789Z."
        )
    parts = {name: int(match.group(name)) for name in ("year", "month", "day", "hour", "minute")}
    second = int(match.group("second"))
    if not DATE_MIN.year <= parts["year"] < DATE_MAX.year:
        raise AuthJsonError(field, "Must be a time between 2000-01-01 and 2100-01-01.")
    if not (
        1 <= parts["month"] <= 12
        and 1 <= parts["day"] <= calendar.monthrange(parts["year"], parts["month"])[1]
        and parts["hour"] <= 23
        and parts["minute"] <= 59
        and second <= 60  # RFC 3339 allows a leap second
    ):
        raise AuthJsonError(field, "Must be an RFC 3339 timestamp with a valid date and time.")
    offset = match.group("offset")
    offset_seconds = 0
    if offset not in ("Z", "z"):
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise AuthJsonError(field, "Must be an RFC 3339 timestamp with a valid UTC offset.")
        offset_seconds = (hours * 3600 + minutes * 60) * (1 if offset[0] == "+" else -1)
    epoch = calendar.timegm(
        (parts["year"], parts["month"], parts["day"], parts["hour"], parts["minute"], 0)
    )
    epoch += second - offset_seconds
    fraction = match.group("fraction") or ""
    ns = epoch * NS_PER_SECOND + int(fraction.ljust(9, "0") or 0)
    if ns < EARLIEST_NS:
        raise AuthJsonError(field, "Must not be earlier than 2000-01-01T00:00:00Z.")
    now_ns = time.time_ns() if now_ns is None else now_ns
    if ns > now_ns + future_slack_ns:
        if future_slack_ns == 0:
            raise AuthJsonError(field, "Must not be later than the server's clock.")
        raise AuthJsonError(field, "Must not be more than 5 minutes in the future.")
    return Rfc3339(text=value, ns=ns)


def ns_from_datetime(value: datetime) -> int:
    """An aware datetime as epoch nanoseconds (exact: no float on the way)."""
    return (value - EPOCH) // timedelta(microseconds=1) * 1000


def datetime_from_ns(ns: int) -> datetime:
    """Epoch nanoseconds as an aware UTC datetime (to the microsecond below)."""
    return EPOCH + timedelta(microseconds=ns // 1000)


def rfc3339_from_ns(ns: int) -> str:
    """Epoch nanoseconds as RFC 3339 in UTC with nine fraction digits, as Codex writes it."""
    seconds, fraction = divmod(ns, NS_PER_SECOND)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{fraction:09d}Z"


def parse_digest(value: Any, *, field: str = "digest") -> str:
    if not isinstance(value, str) or not _DIGEST_RE.match(value):
        raise AuthJsonError(field, "Must be a SHA-256 digest (64 hexadecimal characters).")
    return value.lower()


def auth_text(auth: dict[str, Any]) -> str:
    """The stored and served JSON text: compact, key order as given, non-ASCII kept."""
    return json.dumps(auth, ensure_ascii=False, separators=(",", ":"))


def auth_digest(auth: dict[str, Any]) -> str:
    """The digest rule: SHA-256 of `auth_text(auth)` in the object's own key order."""
    return sha256_hex(auth_text(auth))


def token_problem(token: Any) -> str | None:
    """Why `token` cannot be a real credential, or None when it may be one."""
    if not isinstance(token, str) or not token:
        return "Must be a non-empty string."
    if len(token) < TOKEN_MIN_LENGTH:
        return f"Must be at least {TOKEN_MIN_LENGTH} characters."
    if any(char.isspace() for char in token):
        return "Must not contain whitespace."
    if len(set(token)) < TOKEN_MIN_DISTINCT:
        return f"Must contain at least {TOKEN_MIN_DISTINCT} distinct characters."
    lowered = token.lower()
    if any(fragment in lowered for fragment in _PLACEHOLDER_FRAGMENTS) or any(
        marker in token for marker in _PLACEHOLDER_MARKERS
    ):
        return "Looks like a placeholder, not a real token."
    return None


def _check_token(token: Any, field: str) -> None:
    problem = token_problem(token)
    if problem:
        raise AuthJsonError(field, problem)


def normalise_auth(auth: Any, *, now_ns: int | None = None) -> tuple[dict[str, Any], Rfc3339]:
    """Validate an uploaded `auth.json` and synthesise `auths` when it is missing or empty.

    The result keeps the client's key order (unknown keys included); only a synthesised `auths`
    is appended, as the last key. Returns the object to store and its parsed `last_refresh`.
    """
    if not isinstance(auth, dict):
        raise AuthJsonError("auth", "Must be a JSON object (the contents of auth.json).")
    problem = json_problem(auth)
    if problem is not None:
        path, message = problem
        raise AuthJsonError(f"auth.{path}" if path else "auth", message)
    last_refresh = parse_rfc3339(
        auth.get("last_refresh"),
        field="auth.last_refresh",
        now_ns=now_ns,
        future_slack_ns=STORE_FUTURE_SLACK_NS,
    )

    tokens = auth.get("tokens")
    if tokens is not None and not isinstance(tokens, dict):
        raise AuthJsonError("auth.tokens", "Must be an object or null.")
    access_token = (tokens or {}).get("access_token")
    if access_token is not None:
        _check_token(access_token, "auth.tokens.access_token")
    api_key = auth.get("OPENAI_API_KEY")
    if api_key is not None:
        _check_token(api_key, "auth.OPENAI_API_KEY")

    auths = auth.get("auths")
    result = dict(auth)
    if auths in (None, {}, []):
        token = access_token or api_key
        if not token:
            raise AuthJsonError(
                "auth.auths",
                "Missing; it can only be synthesised from tokens.access_token or OPENAI_API_KEY.",
            )
        result.pop("auths", None)
        entry = {"token": token, "token_type": "bearer"}
        result["auths"] = {SYNTH_AUTHS_HOST: {key: entry[key] for key in sorted(entry)}}
    else:
        if not isinstance(auths, dict):
            raise AuthJsonError("auth.auths", "Must be an object keyed by API host.")
        for name, entry in auths.items():
            field = f"auth.auths.{name}"
            if not isinstance(entry, dict):
                raise AuthJsonError(field, "Must be an object with a token.")
            _check_token(entry.get("token"), f"{field}.token")
    chatgpt_account_id(result)  # a login whose tokens disagree about the account is refused
    return result, last_refresh


def _jwt_claims(token: Any) -> dict[str, Any] | None:
    """The payload of a JWT, unverified (we only compare it with the login we already hold)."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    payload = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: Any) -> int | None:
    """The `exp` claim (epoch seconds) of a JWT, read without verifying the signature: the
    runner only schedules its refresh by it; OpenAI checks the token itself."""
    claims = _jwt_claims(token)
    exp = claims.get("exp") if claims else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return int(exp) if 0 < exp < 2**42 else None


def chatgpt_account_id(auth: dict[str, Any]) -> str | None:
    """The ChatGPT account of a login: the `chatgpt_account_id` claim of its id and access
    tokens (they must agree), else `tokens.account_id`; None for an API-key-only login."""
    tokens = auth.get("tokens") if isinstance(auth, dict) else None
    if not isinstance(tokens, dict):
        return None
    found: dict[str, str] = {}
    for name in ("id_token", "access_token"):
        claims = _jwt_claims(tokens.get(name))
        section = claims.get(JWT_AUTH_CLAIM) if claims else None
        account = section.get(JWT_ACCOUNT_KEY) if isinstance(section, dict) else None
        if isinstance(account, str) and account:
            found[name] = account
    plain = tokens.get("account_id")
    if isinstance(plain, str) and plain:
        found["account_id"] = plain
    if len(set(found.values())) > 1:
        raise AuthJsonError(
            "auth.tokens", "The tokens name different ChatGPT accounts: " + ", ".join(sorted(found))
        )
    return next(iter(found.values()), None)


@dataclass(frozen=True)
class StoreRefusal:
    field: str
    message: str
    reason: str  # for the audit log: account_changed | api_key_changed


def store_refusal(
    *, current: dict[str, Any] | None, offered: dict[str, Any]
) -> StoreRefusal | None:
    """Why a host may not make `offered` the fleet's login while `current` is it, or None.

    The shared login only moves forward as the same login: the same ChatGPT account, and the
    same `OPENAI_API_KEY` (none may be added, changed or dropped). Switching accounts is an
    admin upload (it passes allow_account_switch to the service instead)."""
    if current is None:
        return None
    if chatgpt_account_id(offered) != chatgpt_account_id(current):
        return StoreRefusal(
            field="auth.tokens",
            message=(
                "This login belongs to another ChatGPT account than the fleet's; "
                "switching accounts is an admin upload."
            ),
            reason="account_changed",
        )
    if offered.get("OPENAI_API_KEY") != current.get("OPENAI_API_KEY"):
        return StoreRefusal(
            field="auth.OPENAI_API_KEY",
            message="Must be the fleet login's OPENAI_API_KEY; hosts cannot add or change it.",
            reason="api_key_changed",
        )
    return None


def auth_tokens(auth: dict[str, Any]) -> tuple[str | None, str | None]:
    """`(tokens.access_token, tokens.account_id)` of a stored auth, when present."""
    tokens = auth.get("tokens") if isinstance(auth, dict) else None
    if not isinstance(tokens, dict):
        return None, None
    access = tokens.get("access_token")
    account = tokens.get("account_id")
    return (
        access if isinstance(access, str) and access else None,
        account if isinstance(account, str) and account else None,
    )
