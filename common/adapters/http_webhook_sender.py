"""POST a signed webhook to an address checked beforehand: pooled keep-alive connections, one
deadline for the whole attempt, redirects not followed, and at most a small answer read.

Pinned: the sender dials the addresses the URL policy passed (`check_webhook_url`), in their
order, the next one only when one refuses the connection; it never resolves the name again, so
a name that answers a public address to the check and an internal one to a second lookup (DNS
rebinding) cannot reach the internal one. The URL's host stays the Host header (with its port
when not the scheme's default) and, over TLS, the server name sent (SNI) and the name the
certificate must carry. A pool per (scheme, address, port, host): keep-alive reuse as before.

One deadline: connecting, the TLS handshake, sending and reading the answer all end by
`timeout_s` after the attempt starts, however slowly the endpoint trickles bytes (a socket
timeout bounds each read, not their sum): common/adapters/socket_deadlines.py shuts the
attempt's connection down at the deadline. urllib3 offers no way to hand a request's deadline
to the connection it ends up on, so it travels in a thread-local from `send` to the
connection classes below, which give the deadline their socket as soon as it is connected (or,
kept alive, when a request starts).

urllib3 (requests' own transport) directly: about a third of the client CPU of a
requests.Session call, and no proxies from the environment, .netrc credentials or cookies for
merchant URLs by construction. The answer's status is all we need: a body is read only when it
is small and its length declared, so the connection can be reused; otherwise the connection is
dropped rather than read (a huge or trickling body must not hold a worker).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from common.adapters.socket_deadlines import Deadline, DeadlineWatcher
from common.domain.webhooks import DeliveryAttempt

MAX_ANSWER_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_running = threading.local()
"""`deadline`: the Deadline of the attempt this thread is sending, while it sends."""


class HttpWebhookSender:
    def __init__(self, timeout_s: float, pool_size: int = 32, ca_certs: str | None = None) -> None:
        """`ca_certs`: a PEM bundle of the authorities to trust; the system's by default."""
        self._timeout_s = timeout_s
        self._pools = urllib3.PoolManager(
            num_pools=pool_size, maxsize=pool_size, block=False, retries=False, ca_certs=ca_certs
        )
        self._pools.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        self._deadlines = DeadlineWatcher("webhook-deadlines")

    def send(
        self, url: str, addresses: Sequence[str], body: bytes, headers: Mapping[str, str]
    ) -> DeliveryAttempt:
        """POST to `url`'s endpoint at one of `addresses` (checked ones, never looked up)."""
        at, started = datetime.now(UTC), time.perf_counter()
        deadline = self._deadlines.start(self._timeout_s)
        try:
            code, error = self._post(_Target.of(url), addresses, body, headers, deadline)
        except ValueError as exc:  # a URL urllib3 cannot use, an address that is not one
            code, error = None, f"connection: {type(exc).__name__}"
        finally:
            deadline.finish()
        return DeliveryAttempt(at, code, error, round((time.perf_counter() - started) * 1000, 1))

    def _post(
        self,
        target: _Target,
        addresses: Sequence[str],
        body: bytes,
        headers: Mapping[str, str],
        deadline: Deadline,
    ) -> tuple[int | None, str | None]:
        headers = {
            **headers,
            "Content-Type": "application/json",
            "User-Agent": "paygate-webhooks/1",
            "Host": target.host_header,
        }
        error = "connection: no address to dial"
        for address in addresses:
            ipaddress.ip_address(address)  # never a name: this sender does not resolve
            if deadline.remaining() <= 0:
                return None, "timeout"
            pool = self._pools.connection_from_host(
                address, target.port, target.scheme, pool_kwargs={"server_hostname": target.host}
            )
            _running.deadline = deadline
            try:
                response = pool.urlopen(
                    "POST",
                    target.path,
                    body=body,
                    headers=headers,
                    timeout=urllib3.Timeout(total=max(deadline.remaining(), 0.001)),
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    preload_content=False,
                )
            except NewConnectionError as exc:  # refused or unreachable: the next address
                error = "timeout" if deadline.expired else f"connection: {type(exc).__name__}"
                continue
            except Urllib3TimeoutError:
                return None, "timeout"
            except (HTTPError, OSError) as exc:
                return None, "timeout" if deadline.expired else f"connection: {type(exc).__name__}"
            finally:
                _running.deadline = None
            code = response.status
            _finish(response)
            return code, None
        return None, error


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    """Lower case, an IPv6 literal without brackets: the TLS server name."""
    port: int
    host_header: str
    path: str

    @classmethod
    def of(cls, url: str) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("not an absolute http(s) URL")
        default = _DEFAULT_PORTS[parts.scheme]
        port = parts.port or default
        shown = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(
            parts.scheme,
            parts.hostname,
            port,
            shown if port == default else f"{shown}:{port}",
            path,
        )


class _WatchedHTTPConnection(HTTPConnection):
    """Gives its socket to the deadline of the attempt this thread is sending: a new one as
    soon as it is connected (so a TLS handshake is bounded too), a kept-alive one when a
    request starts."""

    _deadline: Deadline | None = None

    def _new_conn(self) -> socket.socket:  # urllib3's own step between TCP and TLS
        sock = super()._new_conn()
        self._watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            self._watch(self.sock)
        super().request(*args, **kwargs)

    def _watch(self, sock: socket.socket) -> None:
        deadline: Deadline | None = getattr(_running, "deadline", None)
        if deadline is not None and deadline is not self._deadline:
            self._deadline = deadline
            deadline.watch(sock)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _finish(response: urllib3.BaseHTTPResponse) -> None:
    """Read a small declared answer (a 204 or 304 has none) and keep the connection; drop it
    otherwise, or when the deadline cuts the read (the status is known already)."""
    length = "0" if response.status in (204, 304) else response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= MAX_ANSWER_BYTES:
        try:
            response.read()
            response.release_conn()
            return
        except (HTTPError, OSError):
            pass
    response.close()
    response.release_conn()
