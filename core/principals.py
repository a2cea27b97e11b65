"""Who is calling: an API token or a host key, as one object DRF puts in `request.user`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TOKEN = "token"
HOST = "host"


def host_actor(fqdn: str | None) -> str:
    """The audit actor of what a host does: `host:<fqdn>`."""
    return f"host:{fqdn}"


@dataclass(frozen=True)
class Principal:
    kind: str  # TOKEN or HOST
    user: str  # the usage `user` label rows are attributed to
    scope: str  # token scope; "host" for host keys
    credential: Any = field(repr=False, compare=False)  # ApiToken or hosts.Host
    machine: str | None = None  # forced machine for host keys (the FQDN), else None

    is_authenticated = True
    is_anonymous = False

    def has_scope(self, *scopes: str) -> bool:
        if self.kind == HOST:
            return "ingest" in scopes or "host" in scopes
        return self.scope == "admin" or self.scope in scopes

    @property
    def actor(self) -> str:
        if self.kind == HOST:
            return host_actor(self.machine)
        return f"token:{self.credential.pk}:{self.user}"

    @property
    def rate_key(self) -> str:
        return f"{self.kind}:{self.credential.pk}"


def principal_of(request: Any) -> Principal:
    """The authenticated caller of a DRF request whose permissions required one."""
    principal = getattr(request, "user", None)
    if not isinstance(principal, Principal):
        raise TypeError("the view's permissions must require an API token or a host key")
    return principal
