"""Web origins (`scheme://host[:port]`), normalised so that one page always has one spelling.

Lower-case scheme and host, the default port dropped (80 for http, 443 for https), no trailing
slash. Anything beyond an origin (path, query, fragment, userinfo) is refused, not stripped: an
operator who pastes a page URL should see the mistake rather than whitelist more than they read.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

SCHEMES = {"http": 80, "https": 443}
MAX_LENGTH = 255
# Letters, digits and hyphens; underscores too, which intranet names use and browsers accept.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


class OriginError(ValueError):
    """Not a `scheme://host[:port]` origin; the message says why, for the operator."""


def _host(raw: str) -> str:
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise OriginError("The IPv6 address must be in brackets.")
        try:
            address = ipaddress.IPv6Address(raw[1:-1])
        except ValueError:
            raise OriginError("The host is not a valid IPv6 address.") from None
        return f"[{address.compressed}]"
    host = raw.lower()
    try:
        host = host.encode("idna").decode("ascii")  # Origin headers carry the punycode form
    except UnicodeError:
        raise OriginError("The host is not a valid domain name.") from None
    if host.endswith("."):
        host = host[:-1]
    labels = host.split(".")
    if not host or not all(_LABEL.match(label) for label in labels):
        raise OriginError("The host is not a valid domain name or address.")
    if all(label.isdigit() for label in labels):
        try:
            host = str(ipaddress.IPv4Address(host))
        except ValueError:
            raise OriginError("The host is not a valid IPv4 address.") from None
    return host


def normalise_origin(value: str) -> str:
    """The canonical `scheme://host[:port]` for `value`, or OriginError."""
    if not isinstance(value, str):
        raise OriginError("The origin must be a string.")
    text = value.strip()
    if not text:
        raise OriginError("The origin must not be empty.")
    if len(text) > MAX_LENGTH:
        raise OriginError(f"At most {MAX_LENGTH} characters.")
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in text):
        raise OriginError("The origin must not contain spaces, control characters or '\\'.")
    if "://" not in text:
        raise OriginError("Use scheme://host[:port], for example https://intranet.example.com.")
    try:
        parts = urlsplit(text)
    except ValueError:  # unbalanced IPv6 brackets
        raise OriginError("Use scheme://host[:port]; IPv6 addresses go in brackets.") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise OriginError("The scheme must be http or https.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in text or "#" in text:
        raise OriginError("An origin has no path, query or fragment: scheme://host[:port].")
    netloc = parts.netloc
    if not netloc:
        raise OriginError("The host is missing: scheme://host[:port].")
    if "@" in netloc:
        raise OriginError("An origin has no user information.")
    match = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]+)(?::(\d{1,5}))?", netloc)
    if not match:
        raise OriginError("Use scheme://host[:port]; the port must be a number.")
    host = _host(match.group(1))
    port = int(match.group(2)) if match.group(2) is not None else None
    if port is not None and not 1 <= port <= 65535:
        raise OriginError("The port must be between 1 and 65535.")
    if port is None or port == SCHEMES[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def origin_of_url(url: str) -> str | None:
    """The normalised origin of a full URL (a `Referer`), or None when it has none."""
    try:
        parts = urlsplit((url or "").strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    netloc = parts.netloc.rsplit("@", 1)[-1]  # a Referer never should, but never trust userinfo
    try:
        return normalise_origin(f"{parts.scheme}://{netloc}")
    except OriginError:
        return None


def request_origin(request) -> str | None:
    """The caller's normalised origin: `Origin`, else the origin of `Referer`, else None.

    A present but unusable `Origin` (such as `null` from a sandboxed frame) is not replaced by
    the Referer: the browser said on purpose that the origin is opaque."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is not None:
        try:
            return normalise_origin(origin)
        except OriginError:
            return None
    referer = request.META.get("HTTP_REFERER")
    if referer:
        return origin_of_url(referer)
    return None
