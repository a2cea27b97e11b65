"""Per-credential rate limits; the rate is read at call time so settings changes apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from accounts.services import audit_record
from core import ratelimit
from core.cache import CacheRound
from core.principals import Principal

if TYPE_CHECKING:  # DRF loads these modules while rest_framework.views is importing
    from rest_framework.request import Request
    from rest_framework.views import APIView
from core.client_ip import client_ip
from core.logfilters import redact


class CredentialRateThrottle(BaseThrottle):
    """RATE_LIMIT_PER_MINUTE requests per token or host key; calls without a credential (public
    reads, /versions, installer links) ANON_RATE_LIMIT_PER_MINUTE per client IP."""

    window = 60

    def limit(self) -> int:
        return int(settings.RATE_LIMIT_PER_MINUTE)

    def key(self, request: Request, view: APIView) -> str | None:
        principal = request.user
        if not isinstance(principal, Principal):
            return None
        return principal.rate_key

    def allow_request(self, request: Request, view: APIView) -> bool:
        key = self.key(request, view)
        limit = self.limit()
        if key is None:
            if getattr(request.user, "is_authenticated", False):
                return True  # a credential this throttle leaves to another (embeds)
            key, limit = f"anon:{client_ip(request) or '-'}", settings.ANON_RATE_LIMIT_PER_MINUTE
        verdict = ratelimit.hit(key, limit=limit, window=self.window, request=request)
        self._wait = verdict.retry_after
        if not verdict.allowed and verdict.count == verdict.limit + 1:
            # One audit row per window and key, not one per refused request.
            audit_record(
                action="rate.limited",
                request=request,
                meta={"bucket": key, "limit": verdict.limit, "path": redact(request.path)[:200]},
            )
        return verdict.allowed

    @classmethod
    def count_ahead(
        cls, cache_round: CacheRound, request: Request, principal: object = None
    ) -> Callable[[int], None] | None:
        """Put this request's count into `cache_round`, for a credential this throttle counts
        (see core.ratelimit.count_ahead); None when it counts nothing for it. `principal`:
        the caller about to be authenticated (default: `request.user`)."""
        if principal is None:
            principal = request.user
        if not isinstance(principal, Principal):
            return None
        return ratelimit.count_ahead(cache_round, request, principal.rate_key, window=cls.window)

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
