"""Who is calling: the one owner of the forwarded headers.

A request's direct peer is either an IP address (TCP) or the Unix socket the server listens on.
`TRUSTED_PROXIES` lists the peers whose forwarded headers are believed: CIDRs, and the keyword
`unix` for the Unix socket (which only the proxy's group may open). Default: nothing.

From a trusted peer, and only from one, this module believes
- `X-Forwarded-For`: the client is the right-most entry that is not itself a trusted proxy;
- `X-Forwarded-Proto`: Django's SECURE_PROXY_SSL_HEADER reads it (settings set that only when
  some proxy is trusted);
- the mTLS header (`ADMIN_MTLS_HEADER`): the proxy verified an admin's client certificate;
- `X-Request-Id` (core.middleware.RequestIdMiddleware).
`ForwardedHeadersMiddleware` (core.middleware) removes all of them from requests of any other
peer before anything else reads them; the functions here check the peer again, so code that runs
without the middleware (views under a request factory) is safe too.

Pushpin (GRIP_URL) relays requests, it does not speak for clients: a request that carries a valid
`Grip-Sig` (a JWT signed with GRIP_URL's key, which only Pushpin and this app hold) came through our
Pushpin, whose generated configuration (config/pushpin.py) always appends its own peer to
`X-Forwarded-For`: the client's address when it faces clients, nginx's when it is behind nginx,
and an empty entry when that peer came over Pushpin's Unix socket (deploy/: nginx). So for such a
request the peer judged against TRUSTED_PROXIES is Pushpin's peer, and the chain before that entry
is what that peer forwarded; Pushpin's own loopback address counts for nothing. A request without
a valid signature is judged by its direct peer as before, whatever headers it carries.

How servers report a Unix-socket peer (checked on this machine): gunicorn's own workers (sync,
gthread) set REMOTE_ADDR to "" (the `accept()` address of an AF_UNIX socket); uvicorn sets the
ASGI `client` to None, so Django leaves REMOTE_ADDR out; some servers write "unix:<path>". A TCP
peer always has an address, so an empty or absent REMOTE_ADDR can only be the socket.
"""

from __future__ import annotations

import ipaddress
import time
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

import jwt
from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
AnyRequest = HttpRequest | Request

UNIX = "unix"

# Headers only a trusted proxy may set (META names). Everything a client could use to claim an
# address, a scheme, a host, a verified certificate or a request id.
_FORWARDED_META = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_SSL",
    "HTTP_FORWARDED",
    "HTTP_X_REAL_IP",
    "HTTP_X_REQUEST_ID",
)

# Values a proxy writes when there was no verified client certificate. nginx's
# `$ssl_client_verify` is "NONE" or "FAILED:<reason>" then, and a header that is merely present
# must not open the admin API.
_MTLS_NEGATIVE = frozenset({"", "0", "false", "no", "off", "none", "null", "-"})


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


def parse_trusted_entry(entry: str) -> IPNetwork | str | None:
    """`unix`, a network, or None when the entry is neither (accounts.E001 reports it)."""
    entry = entry.strip()
    if entry.lower() == UNIX:
        return UNIX
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=8)
def _trust(entries: tuple[str, ...]) -> tuple[bool, tuple[IPNetwork, ...]]:
    unix = False
    networks: list[IPNetwork] = []
    for entry in entries:
        parsed = parse_trusted_entry(entry)
        if parsed == UNIX:
            unix = True
        elif isinstance(parsed, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(parsed)
        # An entry we cannot read is trusted by no one, rather than failing every request.
    return unix, tuple(networks)


def trusted_networks() -> tuple[IPNetwork, ...]:
    return _trust(tuple(settings.TRUSTED_PROXIES))[1]


def is_trusted_proxy(ip: str | None) -> bool:
    """True when `ip` (an address, not the socket) is in a trusted network."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted_networks())


def peer_is_unix_socket(request: AnyRequest) -> bool:
    remote = str(request.META.get("REMOTE_ADDR") or "").strip()
    return remote == "" or remote.lower().startswith("unix:")


@lru_cache(maxsize=4)
def _grip_verifier(grip_url: str) -> tuple[str, str] | None:
    """(key, iss) from GRIP_URL, as config.pushpin gives them to Pushpin; None without one."""
    query = parse_qs(urlsplit(grip_url).query)
    key = (query.get("key") or [""])[0]
    return (key, (query.get("iss") or ["pushpin"])[0]) if key else None


@lru_cache(maxsize=256)
def _grip_sig_expiry(token: str, key: str, iss: str) -> float | None:
    """The `exp` of a Grip-Sig whose signature and issuer are right, else None. Cached: Pushpin
    signs many requests alike, and the expiry is checked against the clock on every use."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            issuer=iss,
            options={"require": ["exp", "iss"], "verify_exp": False},
        )
    except jwt.PyJWTError:
        return None
    try:
        return float(claims["exp"])
    except (TypeError, ValueError):
        return None


def grip_signed(request: AnyRequest) -> bool:
    """The request carries a valid, unexpired Grip-Sig made with GRIP_URL's key."""
    token = request.META.get("HTTP_GRIP_SIG")
    verifier = _grip_verifier(settings.GRIP_URL) if token and settings.GRIP_URL else None
    if verifier is None:
        return False
    expiry = _grip_sig_expiry(str(token), *verifier)
    return expiry is not None and expiry > time.time()


_UNIX_PEER = ""  # a peer that came over a Unix socket: the proxy whose socket it is


def _speaking_peer(request: AnyRequest) -> tuple[str | None, str]:
    """The peer whose forwarded headers may be believed, and the X-Forwarded-For it sent.

    The direct peer ("" for the Unix socket, None when REMOTE_ADDR is not an address), or, for a
    request our Pushpin forwarded, Pushpin's own peer (the entry it appended) with the chain
    before it. Computed once per request: ForwardedHeadersMiddleware removes the header later."""
    cached: tuple[str | None, str] | None = getattr(request, "_tokenfleet_peer", None)
    if cached is not None:
        return cached
    forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    if peer_is_unix_socket(request):
        found: tuple[str | None, str] = (_UNIX_PEER, forwarded)
    else:
        found = (normalise_ip(request.META.get("REMOTE_ADDR", "")), forwarded)
    if "HTTP_X_FORWARDED_FOR" in request.META and grip_signed(request):
        before, _comma, appended = forwarded.rpartition(",")
        appended = appended.strip()
        relayed = _UNIX_PEER if appended == "" else normalise_ip(appended)
        if relayed is not None:  # garbage: not what our Pushpin writes, so no trust from it
            found = (relayed, before)
    request._tokenfleet_peer = found  # type: ignore[union-attr]
    return found


def from_trusted_proxy(request: AnyRequest) -> bool:
    """True when the peer speaking for the client (the direct peer, or for a request our
    Pushpin relayed, Pushpin's peer) is a trusted proxy, so its forwarded headers are believed."""
    unix, networks = _trust(tuple(settings.TRUSTED_PROXIES))
    peer, _forwarded = _speaking_peer(request)
    if peer == _UNIX_PEER:
        return unix
    if not networks:
        return False  # the default: no address to parse, every request
    return is_trusted_proxy(peer)


def client_ip(request: AnyRequest) -> str | None:
    """The peer's address unless it is a trusted proxy; then the right-most untrusted forwarded
    hop. None when the peer is the Unix socket and no address was (believably) forwarded."""
    cached: str | None | bool = getattr(request, "_tokenfleet_client_ip", False)
    if cached is not False:
        return cached  # type: ignore[return-value]  # str or None once set
    peer, forwarded = _speaking_peer(request)
    ip = None if peer == _UNIX_PEER else peer
    if from_trusted_proxy(request):
        hops = [normalise_ip(part) for part in forwarded.split(",") if part.strip()]
        for hop in reversed(hops):
            if hop is None:
                break  # garbage in the chain: stop trusting it and keep the last good address
            ip = hop
            if not is_trusted_proxy(hop):
                break
    request._tokenfleet_client_ip = ip  # type: ignore[union-attr]
    return ip


def mtls_header_present(request: AnyRequest) -> bool:
    """The mTLS header names a verified client certificate (the peer is not checked here)."""
    header = "HTTP_" + settings.ADMIN_MTLS_HEADER.upper().replace("-", "_")
    value = str(request.META.get(header, "")).strip().lower()
    return value not in _MTLS_NEGATIVE and not value.startswith("failed")


def mtls_verified(request: AnyRequest) -> bool:
    """A trusted proxy says it verified the caller's client certificate."""
    return mtls_header_present(request) and from_trusted_proxy(request)


def drop_untrusted_forwarded_headers(request: HttpRequest) -> None:
    """From any peer that is not a trusted proxy, the forwarded headers are as if never sent."""
    if "HTTP_GRIP_SIG" in request.META:
        _speaking_peer(request)  # Pushpin's X-Forwarded-For is read before it may go below
    if from_trusted_proxy(request):
        return
    mtls = "HTTP_" + settings.ADMIN_MTLS_HEADER.upper().replace("-", "_")
    for key in (*_FORWARDED_META, mtls):
        request.META.pop(key, None)
