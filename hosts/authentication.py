"""Host API keys (`X-API-Key` or a non-token Bearer value) as DRF authentication."""

from __future__ import annotations

from rest_framework import authentication


class HostKeyAuthentication(authentication.BaseAuthentication):
    """Resolves a host key to a Principal(kind=HOST). Hosts are built by the fleet issue."""

    def authenticate(self, request):
        return None
