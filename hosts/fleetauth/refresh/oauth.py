"""The OAuth refresh call, made as Codex CLI makes it, and the meaning of its answers.

Codex (`codex-rs/core/src/auth.rs`) posts JSON `{"client_id", "grant_type": "refresh_token",
"refresh_token", "scope": "openid profile email"}` to the token endpoint; the answer carries new
`id_token`, `access_token` and `refresh_token`, each optional (a missing one keeps its old value).
Codex takes every 401 as final and reads the reason from `error.code`, `error` or `code`
(`refresh_token_expired`, `refresh_token_reused`, `refresh_token_invalidated`); OAuth's own word
for the same (RFC 6749 section 5.2) is a 400 `invalid_grant`. Anything else (5xx, 429, another
4xx, no answer, an answer that is not JSON) says nothing about the login: it is retried.

Nothing here logs or returns a token, and error bodies are reduced to their code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.upstream import UpstreamError, post_json

SCOPE = "openid profile email"
LABEL = "the OAuth token endpoint"
_CODE_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")

# Error codes that end a login: the refresh token can never work again.
PERMANENT_CODES = {
    "refresh_token_expired": "the refresh token has expired",
    "refresh_token_reused": (
        "the refresh token was already used (something else refreshed this login)"
    ),
    "refresh_token_invalidated": (
        "the refresh token was revoked (codex logout, or a password change)"
    ),
    "invalid_grant": "the refresh token was refused (invalid_grant)",
}
TOKEN_NAMES = ("id_token", "access_token", "refresh_token")


@dataclass(frozen=True)
class RefreshedTokens:
    id_token: str | None
    access_token: str | None
    refresh_token: str | None


class RefreshFailed(Exception):
    """The refresh did not happen. `permanent`: the login is over (upload a new one);
    otherwise retry later (`retry_after_seconds` when the endpoint said how long)."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        status: int | None = None,
        code: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status = status
        self.code = code
        self.retry_after_seconds = retry_after_seconds


def error_code(body: Any) -> str | None:
    """The error code of an answer (`error.code`, `error` or `code`), only when it looks like
    one: free text from upstream is never stored."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    found = error.get("code") if isinstance(error, dict) else error
    if not isinstance(found, str):
        found = body.get("code")
    if isinstance(found, str) and _CODE_RE.match(found):
        return found.lower()
    return None


def _retry_after(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value.strip())


def classify(status: int, body: Any, retry_after: str | None = None) -> RefreshFailed:
    """The failure a non-200 answer means."""
    code = error_code(body)
    if code in PERMANENT_CODES and status in (400, 401, 403):
        return RefreshFailed(PERMANENT_CODES[code], permanent=True, status=status, code=code)
    if status == 401:
        return RefreshFailed(
            f"{LABEL} refused the refresh token (HTTP 401{', ' + code if code else ''})",
            permanent=True,
            status=status,
            code=code,
        )
    return RefreshFailed(
        f"HTTP {status} from {LABEL}{' (' + code + ')' if code else ''}",
        permanent=False,
        status=status,
        code=code,
        retry_after_seconds=_retry_after(retry_after),
    )


def oauth_refresh(refresh_token: str) -> RefreshedTokens:
    """Spend `refresh_token` for new tokens. RefreshFailed when that did not happen."""
    body = {
        "client_id": settings.CODEX_OAUTH_CLIENT_ID,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "scope": SCOPE,
    }
    try:
        answer = post_json(settings.CODEX_OAUTH_TOKEN_URL, body=body)
    except UpstreamError as exc:
        raise RefreshFailed(str(exc), permanent=False) from None
    if answer.status != 200:
        raise classify(answer.status, answer.body, answer.retry_after)
    if not isinstance(answer.body, dict):
        raise RefreshFailed(f"{LABEL} answered without a JSON object", permanent=False)
    found: dict[str, str | None] = {}
    for name in TOKEN_NAMES:
        value = answer.body.get(name)
        if value is not None and (not isinstance(value, str) or not value):
            raise RefreshFailed(f"{LABEL} answered an unusable {name}", permanent=False)
        found[name] = value
    if found["access_token"] is None and found["id_token"] is None:
        raise RefreshFailed(f"{LABEL} answered without new tokens", permanent=False)
    return RefreshedTokens(**found)
