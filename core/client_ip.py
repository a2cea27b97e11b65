"""The client's address: REMOTE_ADDR, or what a trusted proxy says it forwarded for."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalise_ip(value: str) -> str | None:
    """A canonical textual IP (IPv4-mapped IPv6 becomes IPv4), or None when it is not an IP."""
    value = (value or "").strip()
    if value.startswith("[") and "]" in value:
        value = value[1 : value.index("]")]
    elif value.count(":") == 1 and "." in value:
        value = value.split(":", 1)[0]  # "1.2.3.4:5678" as some proxies write it
    try:
        address = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            # Reported by the accounts.E001 check; an entry we cannot read is trusted by no one,
            # rather than failing every request.
            continue
    return tuple(networks)


def trusted_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(settings.TRUSTED_PROXIES))


def is_trusted_proxy(ip: str | None) -> bool:
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted_networks())


def client_ip(request: HttpRequest | Request) -> str | None:
    """REMOTE_ADDR unless it is a trusted proxy; then the right-most untrusted forwarded hop."""
    cached: str | None | bool = getattr(request, "_tokenfleet_client_ip", False)
    if cached is not False:
        return cached  # type: ignore[return-value]  # str or None once set
    remote = normalise_ip(request.META.get("REMOTE_ADDR", ""))
    ip = remote
    if remote and is_trusted_proxy(remote):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [normalise_ip(part) for part in forwarded.split(",") if part.strip()]
        for hop in reversed(hops):
            if hop is None:
                break  # garbage in the chain: stop trusting it and keep the proxy's address
            ip = hop
            if not is_trusted_proxy(hop):
                break
    request._tokenfleet_client_ip = ip  # type: ignore[union-attr]
    return ip


def from_trusted_proxy(request: HttpRequest | Request) -> bool:
    """True when the direct peer is a trusted proxy (so its headers may be believed)."""
    return is_trusted_proxy(normalise_ip(request.META.get("REMOTE_ADDR", "")))
