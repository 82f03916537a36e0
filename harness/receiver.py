"""Demo webhook receiver (127.0.0.1:8082): a merchant endpoint that verifies signatures.

    POST /hooks/{merchantId}   verify with that merchant's secret, record, answer 204
    POST /hooks                the same, trying every known merchant's secret
    GET  /received             what arrived: ?merchantId= &transactionId= &webhookId=
    PUT  /control              {"merchantId"?, "failNext": n, "status": 500, "hangSeconds": s}
                               answer the next n deliveries with `status`, or hang first
    POST /control/reset        forget deliveries and behaviours

A delivery that does not verify is recorded (verified=false, with the reason) and answered
401. Secrets come from the merchant directory in Redis (as `harness keys create` made them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from common.webhook_signing import WebhookVerificationError, verify_webhook
from harness.keys import merchant_directory


@dataclass
class Delivery:
    webhook_id: str
    merchant_id: str | None
    verified: bool
    reason: str | None
    type: str | None
    transaction_id: str | None
    status_answered: int
    received_at: float
    attempt: int


class Behaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merchantId: str | None = None
    failNext: int = Field(default=0, ge=0, le=1000)
    status: int = Field(default=500, ge=200, le=599)
    hangSeconds: float = Field(default=0.0, ge=0, le=120)


@dataclass
class ReceiverState:
    deliveries: list[Delivery] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)


SecretLookup = Callable[[str], str | None]
MerchantList = Callable[[], list[str]]


@dataclass(frozen=True)
class Verification:
    """What a delivery's signature check found: the merchant whose secret matched (or the
    one asked for), the parsed event when it verified, why not otherwise."""

    merchant_id: str | None
    event: Any
    reason: str | None

    @property
    def verified(self) -> bool:
        return self.reason is None

    @property
    def event_type(self) -> str | None:
        kind = self.event.get("type") if isinstance(self.event, dict) else None
        return kind if isinstance(kind, str) else None

    @property
    def transaction_id(self) -> str | None:
        data = self.event.get("data") if isinstance(self.event, dict) else None
        found = data.get("transactionId") if isinstance(data, dict) else None
        return found if isinstance(found, str) else None


class WebhookVerifier:
    """Checks deliveries against merchants' webhook secrets, each read once from the
    directory (`harness receiver`, `harness listen`)."""

    def __init__(self, secret_of: SecretLookup, merchants: MerchantList) -> None:
        self._secret_of = secret_of
        self._merchants = merchants
        self._secrets: dict[str, str] = {}

    def knows(self, merchant_id: str) -> bool:
        return self._secret(merchant_id) is not None

    def verify(
        self, merchant_id: str | None, headers: Mapping[str, str], body: bytes
    ) -> Verification:
        """With `merchant_id`'s secret, or with every known merchant's when it is None."""
        candidates = [merchant_id] if merchant_id else self._merchants()
        reason = "unknown merchant"
        for mid in candidates:
            secret = self._secret(mid)
            if secret is None:
                continue
            try:
                return Verification(mid, verify_webhook(secret, headers, body), None)
            except WebhookVerificationError as exc:
                reason = str(exc)
        return Verification(merchant_id, None, reason)

    def _secret(self, merchant_id: str) -> str | None:
        if merchant_id not in self._secrets:
            found = self._secret_of(merchant_id)
            if found is None:
                return None
            self._secrets[merchant_id] = found
        return self._secrets[merchant_id]


def create_receiver_app(secret_of: SecretLookup, merchants: MerchantList) -> FastAPI:
    state = ReceiverState()
    verifier = WebhookVerifier(secret_of, merchants)
    app = FastAPI(title="demo webhook receiver", docs_url=None, redoc_url=None)

    async def receive(request: Request, merchant_id: str | None) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        webhook_id = headers.get("webhook-id", "")
        checked = verifier.verify(merchant_id, headers, body)
        mid = checked.merchant_id
        behaviour = state.behaviours.get(mid or "") or state.behaviours.get("*")
        status = 204 if checked.verified else 401
        if checked.verified and behaviour is not None and behaviour.failNext > 0:
            behaviour.failNext -= 1
            if behaviour.hangSeconds:
                await asyncio.sleep(behaviour.hangSeconds)
            status = behaviour.status
        state.attempts[webhook_id] = state.attempts.get(webhook_id, 0) + 1
        state.deliveries.append(
            Delivery(
                webhook_id=webhook_id,
                merchant_id=mid,
                verified=checked.verified,
                reason=checked.reason,
                type=checked.event_type,
                transaction_id=checked.transaction_id,
                status_answered=status,
                received_at=time.time(),
                attempt=state.attempts[webhook_id],
            )
        )
        return Response(status_code=status)

    @app.post("/hooks/{merchant_id}")
    async def hooks_for(merchant_id: str, request: Request) -> Response:
        return await receive(request, merchant_id)

    @app.post("/hooks")
    async def hooks(request: Request) -> Response:
        return await receive(request, None)

    @app.get("/received")
    async def received(
        merchantId: str | None = None,
        transactionId: str | None = None,
        webhookId: str | None = None,
    ) -> JSONResponse:
        rows = [
            asdict(d)
            for d in state.deliveries
            if (merchantId is None or d.merchant_id == merchantId)
            and (transactionId is None or d.transaction_id == transactionId)
            and (webhookId is None or d.webhook_id == webhookId)
        ]
        return JSONResponse(rows)

    @app.put("/control")
    async def control(behaviour: Behaviour) -> dict[str, Any]:
        state.behaviours[behaviour.merchantId or "*"] = behaviour
        return behaviour.model_dump()

    @app.post("/control/reset")
    async def reset() -> dict[str, bool]:
        state.deliveries.clear()
        state.behaviours.clear()
        state.attempts.clear()
        return {"reset": True}

    return app


def serve(host: str, port: int) -> None:
    directory = merchant_directory()
    app = create_receiver_app(
        directory.webhook_secret, lambda: [m.merchant_id for m in directory.list()]
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
