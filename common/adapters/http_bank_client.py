"""Bank over HTTP (the simulator's API), with pooled connections.

Classification: 2xx → a decision; timeouts, connection errors, 5xx and 429 → TransientError
(retry may help); any other 4xx → PermanentError (the bank refused the request itself).
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter

from common.domain.errors import PermanentError, TransientError
from common.domain.ports import AuthorizationRequest, BankDecision


class HttpBankClient:
    def __init__(self, base_url: str, pool_size: int = 32) -> None:
        self._url = base_url.rstrip("/") + "/v1/authorizations"
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

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
        try:
            response = self._session.post(
                self._url,
                json=body,
                headers={"Idempotency-Key": request.transaction_id},
                timeout=(min(timeout_s, 2.0), timeout_s),
                allow_redirects=False,
            )
        except requests.Timeout:
            raise TransientError("bank", "timeout") from None
        except requests.ConnectionError:
            raise TransientError("bank", "connection failed") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError("bank", f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentError(f"bank refused the request: HTTP {response.status_code}")
        return _decision(_json(response))

    def decision(self, transaction_id: str, timeout_s: float) -> BankDecision | None:
        try:
            response = self._session.get(
                f"{self._url}/{transaction_id}",
                timeout=(min(timeout_s, 2.0), timeout_s),
                allow_redirects=False,
            )
        except requests.RequestException:
            raise TransientError("bank", "status inquiry failed") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TransientError("bank", f"status inquiry: HTTP {response.status_code}")
        data = _json(response)
        found = data.get("decision") if isinstance(data, dict) else None
        return None if found is None else _decision(found)


def _json(response: requests.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


def _decision(data: object) -> BankDecision:
    """A decision document of the bank, or TransientError if it is not one."""
    if not isinstance(data, dict):
        raise TransientError("bank", "unreadable answer")
    approved, code, auth_id = (
        data.get("approved"),
        data.get("declineCode"),
        data.get("authorizationId"),
    )
    if (
        not isinstance(approved, bool)
        or not isinstance(auth_id, str)
        or not (code is None or isinstance(code, str))
    ):
        raise TransientError("bank", "answer of unexpected types")
    return BankDecision(approved=approved, decline_code=code, authorization_id=auth_id)
