"""Logins and token-endpoint answers shaped like OpenAI's (JWTs with `exp` and the account
claim, `rt_` refresh tokens), for the refresher's tests. Never a real credential."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from tests.hosts.conftest import ACCOUNT_ID

AUTH_CLAIM = "https://api.openai.com/auth"


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def jwt(claims: dict[str, Any], tag: str) -> str:
    """Shaped like OpenAI's tokens (RS256 header, the account claim); the signature is noise."""
    header = {"alg": "RS256", "typ": "JWT"}
    body = {**claims, "jti": tag, AUTH_CLAIM: {"chatgpt_account_id": ACCOUNT_ID}}
    return f"{_b64(header)}.{_b64(body)}.c2lnLW5vdC1jaGVja2Vk{tag}"


def access_token(tag: str, expires: datetime | None) -> str:
    claims: dict[str, Any] = {"sub": "auth0|fleet-user", "scp": ["openid"]}
    if expires is not None:
        claims["exp"] = int(expires.timestamp())
    return jwt(claims, tag)


def id_token(tag: str) -> str:
    return jwt({"email": "alice@team.test"}, tag)


def refresh_token(tag: str) -> str:
    return f"rt_Rm9yVGhlRmxlZXRPbmx5{tag}"


def login(
    tag: str,
    *,
    last_refresh: datetime,
    expires: datetime | None,
    **extra: Any,
) -> dict[str, Any]:
    """An auth.json as Codex writes it, in Codex's key order, with `extra` keys after it."""
    return {
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": id_token(tag),
            "access_token": access_token(tag, expires),
            "refresh_token": refresh_token(tag),
            "account_id": ACCOUNT_ID,
        },
        "last_refresh": last_refresh.strftime("%Y-%m-%dT%H:%M:%S.%f") + "789Z",
        **extra,
    }


def answer(tag: str, *, expires: datetime, **drop: bool) -> dict[str, str]:
    """The token endpoint's 200 body (without the tokens named in `drop`)."""
    body = {
        "id_token": id_token(tag),
        "access_token": access_token(tag, expires),
        "refresh_token": refresh_token(tag),
    }
    return {name: value for name, value in body.items() if not drop.get(name)}
