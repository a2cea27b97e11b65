"""JSON from an upstream we do not own (ChatGPT quota, GitHub releases, price lists, the OAuth
token endpoint).

Every upstream URL is a setting, so tests point them at a local fake server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings


class UpstreamError(Exception):
    """The upstream could not be read. The message is safe to store and show (no URL query, no
    credentials); `kind` names the failure as an exception class name (`HTTPError`, ...)."""

    def __init__(self, message: str, *, kind: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status  # the HTTP status of a non-200 answer (401 marks a login invalid)


def get_json(
    url: str, *, label: str, headers: dict[str, str] | None = None, want_object: bool = True
) -> Any:
    """The JSON body of a 200 answer to GET `url`; UpstreamError otherwise. `label` names the
    upstream in messages; with `want_object` anything but a JSON object is an error too."""
    response = _send("GET", url, headers=headers)
    if response.status_code != 200:
        raise UpstreamError(
            f"HTTP {response.status_code} from {label}",
            kind="HTTPError",
            status=response.status_code,
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise UpstreamError(
            f"{label} answered something that is not JSON", kind=type(exc).__name__
        ) from exc
    if want_object and not isinstance(body, dict):
        raise UpstreamError(
            f"{label} answered something that is not a JSON object", kind="TypeError"
        )
    return body


def _send(
    method: str, url: str, *, headers: dict[str, str] | None, json_body: Any = None
) -> requests.Response:
    """One request with our User-Agent and timeout; UpstreamError when no answer came. The
    message names only the exception class: a body (which may hold a credential) never
    reaches it."""
    try:
        return requests.request(
            method,
            url,
            headers={"User-Agent": "tokenfleet", **(headers or {})},
            json=json_body,
            timeout=settings.UPSTREAM_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        name = type(exc).__name__
        raise UpstreamError(f"request failed: {name}", kind=name) from exc


@dataclass(frozen=True)
class UpstreamAnswer:
    status: int
    body: Any  # the parsed JSON, or None when the answer was not JSON
    retry_after: str | None  # the `Retry-After` header as sent


def post_json(url: str, *, body: Any, headers: dict[str, str] | None = None) -> UpstreamAnswer:
    """POST `body` as JSON; the answer whatever its status (the caller classifies it), or
    UpstreamError when none came."""
    response = _send(
        "POST", url, headers={"Accept": "application/json", **(headers or {})}, json_body=body
    )
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    return UpstreamAnswer(
        status=response.status_code, body=parsed, retry_after=response.headers.get("Retry-After")
    )
