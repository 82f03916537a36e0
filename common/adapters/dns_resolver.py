"""Host name → addresses, with the system resolver (for the webhook URL policy)."""

from __future__ import annotations

import socket
from collections.abc import Sequence


def resolve_host(host: str) -> Sequence[str]:
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})
