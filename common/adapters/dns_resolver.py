"""Host name → addresses, with the system resolver (for the webhook URL policy)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence

from common.domain.errors import TransientError


def resolve_host(host: str) -> Sequence[str]:
    """Addresses of `host`; OSError if it does not exist, TransientError if the resolver
    could not answer now (the request gets a 503, not a 422 that would say "invalid")."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None)):
            raise TransientError("dns", "temporary resolver failure") from None
        raise
    return sorted({str(info[4][0]) for info in infos})


class CachedResolver:
    """`resolve_host` with its answers kept `ttl_s` seconds and names that do not exist
    `miss_ttl_s` (a resolver's temporary failure is never kept). Intake's check is the first
    of two: notify checks the address again when it dials."""

    def __init__(
        self,
        resolve: Callable[[str], Sequence[str]] = resolve_host,
        ttl_s: float = 30.0,
        miss_ttl_s: float = 5.0,
        max_entries: int = 10_000,
    ) -> None:
        self._resolve = resolve
        self._ttl_s = ttl_s
        self._miss_ttl_s = miss_ttl_s
        self._max = max_entries
        self._kept: dict[str, tuple[float, Sequence[str] | None]] = {}

    def known(self, host: str) -> bool:
        kept = self._kept.get(host)
        return kept is not None and kept[0] > time.monotonic()

    def __call__(self, host: str) -> Sequence[str]:
        kept = self._kept.get(host)
        if kept is None or kept[0] <= time.monotonic():
            kept = self._lookup(host)
        if kept[1] is None:
            raise OSError(f"{host} does not resolve")
        return kept[1]

    def _lookup(self, host: str) -> tuple[float, Sequence[str] | None]:
        try:
            addresses: Sequence[str] | None = self._resolve(host)
            ttl = self._ttl_s
        except (OSError, UnicodeError):
            addresses, ttl = None, self._miss_ttl_s
        if len(self._kept) >= self._max:
            self._kept.clear()
        kept = (time.monotonic() + ttl, addresses)
        self._kept[host] = kept
        return kept
