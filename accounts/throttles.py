"""Per-credential rate limits; the rate is read at call time so settings changes apply."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from accounts.services import audit_record
from core import ratelimit
from core.principals import Principal

if TYPE_CHECKING:  # DRF loads these modules while rest_framework.views is importing
    from rest_framework.request import Request
    from rest_framework.views import APIView


class CredentialRateThrottle(BaseThrottle):
    """RATE_LIMIT_PER_MINUTE requests per token or host key; anonymous calls are not counted."""

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
        if key is None:
            return True
        verdict = ratelimit.hit(key, limit=self.limit(), window=self.window)
        self._wait = verdict.retry_after
        if not verdict.allowed and verdict.count == verdict.limit + 1:
            # One audit row per window and key, not one per refused request.
            audit_record(
                action="rate.limited",
                request=request,
                meta={"bucket": key, "limit": verdict.limit, "path": request.path[:200]},
            )
        return verdict.allowed

    def wait(self) -> float | None:
        return getattr(self, "_wait", None)
