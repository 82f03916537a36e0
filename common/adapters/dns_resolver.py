"""Host name → addresses, with the system resolver (for the webhook URL policy)."""

from __future__ import annotations

import socket
from collections.abc import Sequence

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
