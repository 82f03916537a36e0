"""Is a webhook URL acceptable? Absolute http(s), no credentials, and (unless configuration
allows it, as local development does) on an allowed port (80 and 443 by default) with every
address it resolves to public.

Checked at intake and again at delivery time (a name may resolve differently later). The
check answers the addresses it passed, and delivery dials one of those, never a fresh lookup:
a name that answers a public address to the check and an internal one a moment later (DNS
rebinding) must not reach the internal one. Resolution is a parameter, so this module does no
I/O itself.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], Sequence[str]]
"""Host name → its addresses as text; raises OSError when it does not resolve."""


class CachingResolver(Protocol):
    """A Resolver that keeps its answers a while; `known` says whether calling it now would
    answer from what it keeps (no lookup, nothing that blocks)."""

    def __call__(self, host: str) -> Sequence[str]: ...

    def known(self, host: str) -> bool: ...


MAX_URL_LENGTH = 2048
WEBHOOK_PORTS = frozenset({80, 443})
"""The ports a webhook URL may name where private addresses are refused, unless configured."""
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*\.?$", re.IGNORECASE)
_HOST_LABELS = re.compile(
    r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.?$",
    re.IGNORECASE,
)


class WebhookUrlError(ValueError):
    """Why the URL is refused, in words fit for the merchant."""


def check_webhook_url(
    url: str,
    resolve: Resolver,
    allow_private: bool,
    allowed_ports: frozenset[int] = WEBHOOK_PORTS,
) -> tuple[str, ...]:
    """The addresses `url` was checked against, as text in the resolver's order (one for an
    address literal): the ones to dial. Local development (`allow_private`) allows any
    address and any port."""
    target = _parse(url)
    if not allow_private and target.port not in allowed_ports:
        ports = ", ".join(str(p) for p in sorted(allowed_ports))
        raise WebhookUrlError(f"webhookUrl port must be one of {ports}")
    host = target.host
    if host.startswith("["):
        addresses = [_literal(host[1:-1])]
    elif _NUMERIC_HOST.match(host):
        try:
            addresses = [ipaddress.IPv4Address(host.rstrip("."))]
        except ValueError:
            raise WebhookUrlError(
                "webhookUrl host is a number in a non-standard form; use a name or a "
                "dotted-quad address"
            ) from None
    else:
        if not _HOST_LABELS.match(host):
            raise WebhookUrlError("webhookUrl host is not a valid host name")
        try:
            addresses = [_literal(a) for a in resolve(host)]
        except (OSError, UnicodeError, ValueError):
            raise WebhookUrlError("webhookUrl host does not resolve") from None
        if not addresses:
            raise WebhookUrlError("webhookUrl host does not resolve")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise WebhookUrlError(
                    "webhookUrl must not point at a private, loopback, link-local or "
                    "otherwise internal address"
                )
    return tuple(dict.fromkeys(str(a) for a in addresses))


def host_to_resolve(url: str) -> str | None:
    """The host name `check_webhook_url` would resolve for this URL; None when it would not
    resolve anything (an address literal, or a URL it refuses before that)."""
    try:
        host = _parse(url).host
    except WebhookUrlError:
        return None
    if host.startswith("[") or _NUMERIC_HOST.match(host) or not _HOST_LABELS.match(host):
        return None
    return host


_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_EMBEDS_V4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # NAT64, local use
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT)
)


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return is_public(mapped)
        if any(address in net for net in _EMBEDS_V4):
            return is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address not in _GLOBAL_UNICAST_V6 or address.teredo is not None:
            return False  # only global unicast; no site-local, IPv4-compatible, Teredo...
    return address.is_global and not address.is_multicast


class _Target(NamedTuple):
    host: str
    """Lower case; an IPv6 literal in brackets."""
    port: int
    """The URL's, or its scheme's default."""


def _parse(url: str) -> _Target:
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlError(f"webhookUrl must be at most {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise WebhookUrlError(
            "webhookUrl must be ASCII without spaces or control characters "
            "(use punycode for international names)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlError("webhookUrl is not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlError("webhookUrl must be an absolute http or https URL")
    if "@" in parts.netloc:
        raise WebhookUrlError("webhookUrl must not contain credentials")
    if not parts.hostname:
        raise WebhookUrlError("webhookUrl must have a host")
    if port == 0:
        raise WebhookUrlError("webhookUrl port must be between 1 and 65535")
    host = parts.hostname
    return _Target(f"[{host}]" if ":" in host else host, port or _DEFAULT_PORTS[parts.scheme])


def _literal(text: str) -> Address:
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        raise WebhookUrlError("webhookUrl host is not a valid address") from None
