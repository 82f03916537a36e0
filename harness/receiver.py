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
from collections.abc import Callable
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


def create_receiver_app(secret_of: SecretLookup, merchants: MerchantList) -> FastAPI:
    state = ReceiverState()
    secrets: dict[str, str] = {}
    app = FastAPI(title="demo webhook receiver", docs_url=None, redoc_url=None)

    def secret(merchant_id: str) -> str | None:
        if merchant_id not in secrets:
            found = secret_of(merchant_id)
            if found is None:
                return None
            secrets[merchant_id] = found
        return secrets[merchant_id]

    def verify(
        merchant_id: str | None, headers: dict[str, str], body: bytes
    ) -> tuple[str | None, Any, str | None]:
        candidates = [merchant_id] if merchant_id else merchants()
        reason = "unknown merchant"
        for mid in candidates:
            sec = secret(mid)
            if sec is None:
                continue
            try:
                return mid, verify_webhook(sec, headers, body), None
            except WebhookVerificationError as exc:
                reason = str(exc)
        return merchant_id, None, reason

    async def receive(request: Request, merchant_id: str | None) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        webhook_id = headers.get("webhook-id", "")
        mid, payload, reason = verify(merchant_id, headers, body)
        behaviour = state.behaviours.get(mid or "") or state.behaviours.get("*")
        status = 204 if payload is not None else 401
        if payload is not None and behaviour is not None and behaviour.failNext > 0:
            behaviour.failNext -= 1
            if behaviour.hangSeconds:
                await asyncio.sleep(behaviour.hangSeconds)
            status = behaviour.status
        state.attempts[webhook_id] = state.attempts.get(webhook_id, 0) + 1
        data = payload.get("data", {}) if isinstance(payload, dict) else {}
        state.deliveries.append(
            Delivery(
                webhook_id=webhook_id,
                merchant_id=mid,
                verified=payload is not None,
                reason=reason,
                type=payload.get("type") if isinstance(payload, dict) else None,
                transaction_id=data.get("transactionId") if isinstance(data, dict) else None,
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
