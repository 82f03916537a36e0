"""The transaction log in MongoDB's `payments` collection, one document per payment.

    _id               transaction id (the unique index every claim rests on)
    transactionId, merchantId, status, amountMinor, currency, reference, description,
    metadata, card {brand, last4, expMonth, expYear, fingerprint}, webhookUrl,
    createdAt, updatedAt, claimedAt, processedAt
    declineCode, failureReason, bankReference
    statusHistory     [{status, at}]
    bankAttempts      [{at, latencyMs, result, detail}]
    outcomePublished  true once PaymentProcessed was acknowledged by Kafka (the outbox flag)

The card appears as brand/last4/fingerprint only; the token never reaches the database.
The read side (MongoPaymentReader) parses the same document as a PaymentRecord.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common.adapters.mongo_connection import mongo_errors
from common.domain.errors import TransientError
from common.domain.events import PaymentRequested
from common.domain.payment import TERMINAL, PaymentStatus
from common.domain.ports import BankAttempt, LedgerEntry, Outcome


class MongoPaymentLedger:
    def __init__(self, payments: Collection[dict[str, Any]]) -> None:
        self._payments = payments

    def claim(self, request: PaymentRequested, now: datetime) -> LedgerEntry:
        doc = {
            "_id": request.transaction_id,
            "transactionId": request.transaction_id,
            "merchantId": request.merchant_id,
            "status": PaymentStatus.PROCESSING.value,
            "amountMinor": request.amount_minor,
            "currency": request.currency,
            "reference": request.reference,
            "description": request.description,
            "metadata": request.metadata,
            "card": {
                "brand": request.card.brand,
                "last4": request.card.last4,
                "expMonth": request.card.exp_month,
                "expYear": request.card.exp_year,
                "fingerprint": request.card.fingerprint,
            },
            "webhookUrl": request.webhook_url,
            "createdAt": request.occurred_at,
            "updatedAt": now,
            "claimedAt": now,
            "statusHistory": [
                {"status": PaymentStatus.PENDING.value, "at": request.occurred_at},
                {"status": PaymentStatus.PROCESSING.value, "at": now},
            ],
            "bankAttempts": [],
            "outcomePublished": False,
        }
        with mongo_errors():
            try:
                self._payments.insert_one(doc)
                return _entry(doc)
            except DuplicateKeyError:
                existing = self._payments.find_one({"_id": request.transaction_id})
        if existing is None:  # deleted in between: not something this system does
            raise TransientError("mongodb", "claimed payment vanished")
        return _entry(existing)

    def record_attempt(self, transaction_id: str, attempt: BankAttempt) -> None:
        entry = {
            "at": attempt.at,
            "latencyMs": attempt.latency_ms,
            "result": attempt.result,
            "detail": attempt.detail,
        }
        with mongo_errors():
            self._payments.update_one({"_id": transaction_id}, {"$push": {"bankAttempts": entry}})

    def record_outcome(self, transaction_id: str, outcome: Outcome, now: datetime) -> LedgerEntry:
        update = {
            "$set": {
                "status": outcome.status.value,
                "declineCode": outcome.decline_code,
                "failureReason": outcome.failure_reason,
                "bankReference": outcome.bank_reference,
                "processedAt": now,
                "updatedAt": now,
            },
            "$push": {"statusHistory": {"status": outcome.status.value, "at": now}},
        }
        not_yet_decided = {"_id": transaction_id, "status": {"$nin": [s.value for s in TERMINAL]}}
        with mongo_errors():
            doc = self._payments.find_one_and_update(
                not_yet_decided, update, return_document=ReturnDocument.AFTER
            )
            if doc is None:  # decided already (a redelivery raced us): keep the first outcome
                doc = self._payments.find_one({"_id": transaction_id})
        if doc is None:
            raise TransientError("mongodb", "payment to decide is missing")
        return _entry(doc)

    def mark_published(self, transaction_id: str) -> None:
        with mongo_errors():
            self._payments.update_one({"_id": transaction_id}, {"$set": {"outcomePublished": True}})


def _entry(doc: dict[str, Any]) -> LedgerEntry:
    status = PaymentStatus(doc["status"])
    outcome = (
        Outcome(status, doc.get("declineCode"), doc.get("failureReason"), doc.get("bankReference"))
        if status in TERMINAL
        else None
    )
    return LedgerEntry(
        transaction_id=doc["_id"],
        status=status,
        claimed_at=doc["claimedAt"],
        attempts=len(doc.get("bankAttempts") or []),
        outcome=outcome,
        processed_at=doc.get("processedAt"),
        outcome_published=bool(doc.get("outcomePublished")),
    )
