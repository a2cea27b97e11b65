"""GET + JSON from an upstream we do not own (ChatGPT quota, GitHub releases, price lists).

Every upstream URL is a setting, so tests point them at a local fake server.
"""

from __future__ import annotations

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
    try:
        response = requests.get(
            url,
            headers={"User-Agent": "tokenfleet", **(headers or {})},
            timeout=settings.UPSTREAM_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        name = type(exc).__name__
        raise UpstreamError(f"request failed: {name}", kind=name) from exc
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
