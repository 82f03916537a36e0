"""One public view of a payment: the webhook's `data` is what GET returns, without the
webhook block."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi.encoders import jsonable_encoder

from common.domain.events import PaymentProcessed
from common.domain.payment import AttemptEntry, CardSummary
from common.domain.webhooks import webhook_body
from functions.intake.app import payment_out

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_webhook_data_is_the_payment_as_get_shows_it() -> None:
    event = PaymentProcessed(
        event_id="e",
        occurred_at=T0,
        transaction_id="tx-1",
        merchant_id="m",
        status="declined",
        amount_minor=4999,
        currency="EUR",
        reference="order-1",
        metadata={"cart": "c-1"},
        webhook_url="https://shop.example/h",
        card=CardSummary(brand="visa", last4="0002", exp_month=1, exp_year=2030, fingerprint="f"),
        decline_code="card_declined",
        attempts=1,
        created_at=T0,
        claimed_at=T0 + timedelta(seconds=1),
        processed_at=T0 + timedelta(seconds=2),
        bank_attempts=[AttemptEntry(at=T0, latency_ms=3.5, result="declined")],
    )
    body = json.loads(webhook_body(event))
    shown = jsonable_encoder(payment_out(event.payment_record()), by_alias=True)
    assert shown.pop("webhook") is None
    assert body["data"] == shown
    assert body["type"] == "payment.declined" and body["timestamp"] == shown["updatedAt"]
    assert [h["status"] for h in shown["history"]] == ["pending", "processing", "declined"]
    assert "fingerprint" not in body["data"]["card"] and shown["amount"] == "49.99"
