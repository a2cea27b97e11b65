"""Reads for canonical auth sync: the current login, host state, this month's host usage."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from core.crypto import decrypt_text
from hosts.models import CanonicalAuth, Host


def canonical_current() -> CanonicalAuth | None:
    return CanonicalAuth.objects.filter(is_current=True).first()


def canonical_auth_text(canonical: CanonicalAuth) -> str:
    """The stored JSON text, byte for byte as accepted."""
    return decrypt_text(canonical.ciphertext)


def canonical_auth_object(canonical: CanonicalAuth) -> dict[str, Any]:
    # json.loads keeps key order, so serving the object keeps the digest reproducible.
    auth: dict[str, Any] = json.loads(canonical_auth_text(canonical))
    return auth


def month_start(now: datetime | None = None) -> datetime:
    now = (now or timezone.now()).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class TokenUsage:
    """One host's Codex usage over a period, as Codex reports it: `input` is the non-cached
    input, `cache_read` the cached input, `output` includes `reasoning`."""

    input: int = 0
    cache_read: int = 0
    output: int = 0
    reasoning: int = 0
    events: int = 0  # usage entries (cdx lines and collected session turns)

    @property
    def total(self) -> int:
        """input + output: cached input and reasoning are not added again."""
        return self.input + self.output


def host_token_usage_month(
    *, host: Host, now: datetime | None = None, request: Any = None
) -> TokenUsage:
    """This host's Codex usage since the start of the UTC month (cached per host, see
    usage.host_month; read ahead for `request` when it was)."""
    from usage.host_month import host_month_sums

    return TokenUsage(**host_month_sums(host_id=host.pk, since=month_start(now), request=request))
