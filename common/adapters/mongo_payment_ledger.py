"""The transaction log in MongoDB's `payments` collection, one document per payment.

    _id               transaction id (the unique index every claim rests on)
    transactionId, merchantId, status, amountMinor, currency, reference, description,
    metadata, card {brand, last4, expMonth, expYear, fingerprint}, webhookUrl,
    createdAt, updatedAt, claimedAt, processedAt
    declineCode, failureReason, bankReference
    statusHistory     [{status, at}]
    bankAttempts      [{at, latencyMs, result, detail}]
    outcomePublished  written true with the outcome, which is recorded only after Kafka
                      acknowledged its PaymentProcessed

The card appears as brand/last4/fingerprint only; the token never reaches the database.
The read side (MongoPaymentReader) parses the same document as a PaymentRecord.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from common.adapters.mongo_connection import mongo_errors
from common.domain.errors import TransientError
from common.domain.events import PaymentRequested
from common.domain.payment import TERMINAL, PaymentStatus
from common.domain.ports import BankAttempt, LedgerEntry, Outcome, StatusChange


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

    def record_attempts(self, entry: LedgerEntry, attempts: Sequence[BankAttempt]) -> None:
        if not attempts:
            return
        with mongo_errors():
            self._payments.find_one_and_update(
                {"_id": entry.transaction_id},
                {"$set": {"bankAttempts": _attempts(entry, attempts)}},
            )

    def record_outcome(
        self,
        entry: LedgerEntry,
        outcome: Outcome,
        attempts: Sequence[BankAttempt],
        now: datetime,
    ) -> LedgerEntry:
        # Whole arrays with $set: FerretDB 1.24's $push is ten times slower. The status guard
        # keeps a first recorded outcome from being overwritten by a concurrent redelivery;
        # its miss (rare) costs FerretDB a collection scan.
        history = [*entry.history, StatusChange(outcome.status, now)]
        update = {
            "$set": {
                "status": outcome.status.value,
                "declineCode": outcome.decline_code,
                "failureReason": outcome.failure_reason,
                "bankReference": outcome.bank_reference,
                "processedAt": now,
                "updatedAt": now,
                "outcomePublished": True,
                "statusHistory": [{"status": h.status.value, "at": h.at} for h in history],
                "bankAttempts": _attempts(entry, attempts),
            }
        }
        if entry.outcome is not None:
            return entry
        tx = entry.transaction_id
        with mongo_errors():
            doc = self._payments.find_one_and_update(
                {"_id": tx, "status": PaymentStatus.PROCESSING.value},
                update,
                return_document=ReturnDocument.AFTER,
            )
            if doc is None:  # decided meanwhile by a concurrent redelivery: keep its outcome
                doc = self._payments.find_one({"_id": tx})
        if doc is None:
            raise TransientError("mongodb", "payment to decide is missing")
        return _entry(doc)


def _attempts(entry: LedgerEntry, new: Sequence[BankAttempt]) -> list[dict[str, Any]]:
    return [
        {"at": a.at, "latencyMs": a.latency_ms, "result": a.result, "detail": a.detail}
        for a in (*entry.bank_attempts, *new)
    ]


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
        history=tuple(
            StatusChange(PaymentStatus(h["status"]), h["at"])
            for h in doc.get("statusHistory") or []
        ),
        bank_attempts=tuple(
            BankAttempt(a["at"], a["latencyMs"], a["result"], a.get("detail"))
            for a in doc.get("bankAttempts") or []
        ),
        outcome=outcome,
        processed_at=doc.get("processedAt"),
    )
