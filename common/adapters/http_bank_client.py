"""Bank over HTTP (the simulator's API), with pooled keep-alive connections.

Classification: 2xx → a decision; timeouts, connection errors, 5xx and 429 → TransientError
(retry may help); any other 4xx → PermanentError (the bank refused the request itself).

urllib3 (requests' own transport) directly: one call costs about a third of the CPU of a
requests.Session call (measured on this machine: 236 vs 644 µs of client CPU per POST to the
bank simulator), and the bank is called once per payment.
"""

from __future__ import annotations

import json

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

from common.domain.errors import PermanentError, TransientError
from common.domain.ports import AuthorizationRequest, BankDecision


class HttpBankClient:
    def __init__(self, base_url: str, pool_size: int = 32) -> None:
        self._path = urllib3.util.parse_url(base_url.rstrip("/")).path or ""
        self._path += "/v1/authorizations"
        self._pool = urllib3.connection_from_url(
            base_url, maxsize=pool_size, block=False, retries=False
        )

    def authorize(self, request: AuthorizationRequest, timeout_s: float) -> BankDecision:
        body = {
            "amountMinor": request.amount_minor,
            "currency": request.currency,
            "card": {
                "number": request.card_number,
                "expMonth": request.exp_month,
                "expYear": request.exp_year,
            },
            "merchantId": request.merchant_id,
            "reference": request.reference,
        }
        status, data = self._call(
            "POST",
            self._path,
            timeout_s,
            body=json.dumps(body).encode(),
            headers={
                "Idempotency-Key": request.transaction_id,
                "Content-Type": "application/json",
            },
        )
        if status >= 500 or status == 429:
            raise TransientError("bank", f"HTTP {status}")
        if status >= 400:
            raise PermanentError(f"bank refused the request: HTTP {status}")
        return _decision(_json(data))

    def decision(self, transaction_id: str, timeout_s: float) -> BankDecision | None:
        try:
            status, data = self._call("GET", f"{self._path}/{transaction_id}", timeout_s)
        except TransientError:
            raise TransientError("bank", "status inquiry failed") from None
        if status == 404:
            return None
        if status != 200:
            raise TransientError("bank", f"status inquiry: HTTP {status}")
        found = _json(data)
        found = found.get("decision") if isinstance(found, dict) else None
        return None if found is None else _decision(found)

    def reverse(self, transaction_id: str, timeout_s: float) -> None:
        status, _data = self._call("POST", f"{self._path}/{transaction_id}/reversal", timeout_s)
        if status >= 500 or status == 429:
            raise TransientError("bank", f"reversal: HTTP {status}")
        if status >= 400:
            raise PermanentError(f"bank refused the reversal: HTTP {status}")

    def _call(
        self,
        method: str,
        path: str,
        timeout_s: float,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        try:
            response = self._pool.urlopen(
                method,
                path,
                body=body,
                headers=headers,
                timeout=urllib3.Timeout(connect=min(timeout_s, 2.0), read=timeout_s),
                redirect=False,
            )
        except Urllib3TimeoutError:
            raise TransientError("bank", "timeout") from None
        except HTTPError:
            raise TransientError("bank", "connection failed") from None
        return response.status, response.data


def _json(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _decision(data: object) -> BankDecision:
    """A decision document of the bank, or TransientError if it is not one."""
    if not isinstance(data, dict):
        raise TransientError("bank", "unreadable answer")
    approved, code, auth_id, reversed_ = (
        data.get("approved"),
        data.get("declineCode"),
        data.get("authorizationId"),
        data.get("reversed", False),
    )
    if (
        not isinstance(approved, bool)
        or not isinstance(auth_id, str)
        or not (code is None or isinstance(code, str))
        or not isinstance(reversed_, bool)
    ):
        raise TransientError("bank", "answer of unexpected types")
    return BankDecision(
        approved=approved, decline_code=code, authorization_id=auth_id, reversed=reversed_
    )
