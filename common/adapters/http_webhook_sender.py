"""POST a signed webhook: pooled keep-alive connections, one time limit for connecting and
reading the answer, redirects not followed, and at most a small answer read.

urllib3 (requests' own transport) directly: about a third of the client CPU of a
requests.Session call, and no proxies, .netrc credentials or cookies for merchant URLs by
construction. The answer's status is all we need: a body is read only when it is small and
its length declared, so the connection can be reused; otherwise the connection is dropped
rather than read (a huge or trickling body must not hold a worker).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from common.domain.webhooks import DeliveryAttempt

MAX_ANSWER_BYTES = 64 * 1024


class HttpWebhookSender:
    def __init__(self, timeout_s: float, pool_size: int = 32) -> None:
        self._timeout = urllib3.Timeout(total=timeout_s)
        self._pool = urllib3.PoolManager(
            num_pools=pool_size, maxsize=pool_size, block=False, retries=False
        )

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryAttempt:
        at, started = datetime.now(UTC), time.perf_counter()
        try:
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers={
                    **headers,
                    "Content-Type": "application/json",
                    "User-Agent": "paygate-webhooks/1",
                },
                timeout=self._timeout,
                redirect=False,
                preload_content=False,
            )
            code, error = response.status, None
            _finish(response)
        except Urllib3TimeoutError:
            code, error = None, "timeout"
        except (HTTPError, ValueError) as exc:  # ValueError: a URL urllib3 cannot use
            code, error = None, f"connection: {type(exc).__name__}"
        return DeliveryAttempt(at, code, error, round((time.perf_counter() - started) * 1000, 1))


def _finish(response: urllib3.BaseHTTPResponse) -> None:
    """Read a small declared answer (a 204 or 304 has none) and keep the connection; drop it
    otherwise."""
    length = "0" if response.status in (204, 304) else response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) <= MAX_ANSWER_BYTES:
        response.read()
        response.release_conn()
    else:
        response.close()
        response.release_conn()
