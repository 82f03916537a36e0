"""POST a signed webhook: pooled connections, a timeout, redirects not followed."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from http.cookiejar import DefaultCookiePolicy

import requests
from requests.adapters import HTTPAdapter

from common.domain.webhooks import DeliveryAttempt


class HttpWebhookSender:
    def __init__(self, timeout_s: float, pool_size: int = 32) -> None:
        self._timeout_s = timeout_s
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies or .netrc credentials for merchant URLs
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # none kept
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> DeliveryAttempt:
        at, started = datetime.now(UTC), time.perf_counter()
        try:
            response = self._session.post(
                url,
                data=body,
                headers={
                    **headers,
                    "Content-Type": "application/json",
                    "User-Agent": "paygate-webhooks/1",
                },
                timeout=self._timeout_s,
                allow_redirects=False,
                stream=True,  # the status is all we need: never read a (huge, slow) body
            )
            response.close()
            code, error = response.status_code, None
        except requests.Timeout:
            code, error = None, "timeout"
        except requests.RequestException as exc:
            code, error = None, f"connection: {type(exc).__name__}"
        return DeliveryAttempt(at, code, error, round((time.perf_counter() - started) * 1000, 1))
