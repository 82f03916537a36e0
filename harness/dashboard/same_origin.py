"""Which POSTs the dashboard acts on (resend, redrive): pure, from the request's headers.

A form on another site can make a browser POST here (CSRF), and a name that resolves to
127.0.0.1 can make another site look same-origin (DNS rebinding). So an action is taken only
when all of these hold:
- the request comes from this machine (the peer is a loopback address);
- its Host is a loopback name or address (127.0.0.1, localhost, [::1]);
- its Origin is this very `http://host:port`, or, when a browser sent no Origin, its
  Referer is a page of it. A POST with neither is refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK_PEERS = frozenset({"127.0.0.1", "::1"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def refusal(
    peer: str | None, host: str | None, origin: str | None, referer: str | None
) -> str | None:
    """Why this POST is refused; None when it may act."""
    if peer not in LOOPBACK_PEERS:
        return "actions are taken only for requests from this machine (127.0.0.1)"
    if not host or _hostname(host) not in LOOPBACK_HOSTS:
        return "actions are taken only on the dashboard's own address (127.0.0.1)"
    own = f"http://{host.lower()}"
    if origin:  # "null" too (a sandboxed frame, a privacy redirect): not this page's
        return None if origin.lower().rstrip("/") == own else "cross-origin request refused"
    if referer:
        parts = urlsplit(referer)
        return None if f"{parts.scheme}://{parts.netloc}".lower() == own else "refused: referer"
    return "refused: neither Origin nor Referer says the request comes from the dashboard"


def _hostname(host: str) -> str:
    """The host of a Host header without its port ("[::1]" keeps its brackets)."""
    host = host.lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host
