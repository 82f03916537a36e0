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
Claims of payments processed concurrently in one process are inserted together
(common/adapters/mongo_group_commit.py: one insert_many); outcomes are one findAndModify each,
filtered by `_id` alone (see record_outcome).
The read side (MongoPaymentReader) parses the same document as a PaymentRecord.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from common.adapters.mongo_connection import mongo_errors
from common.adapters.mongo_group_commit import GroupCommit
from common.domain.errors import TransientError
from common.domain.events import PaymentRequested
from common.domain.payment import TERMINAL, PaymentStatus
from common.domain.ports import BankAttempt, LedgerEntry, Outcome, StatusChange


class MongoPaymentLedger:
    def __init__(self, payments: Collection[dict[str, Any]]) -> None:
        self._payments = payments
        self._claims: GroupCommit[dict[str, Any], LedgerEntry] = GroupCommit(self._insert)

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
        return self._claims.submit(doc)

    def _insert(self, docs: Sequence[dict[str, Any]]) -> list[LedgerEntry | Exception]:
        """Insert every claim; a duplicate _id (already claimed) reads what is recorded."""
        duplicates: set[int] = set()
        with mongo_errors():
            try:
                self._payments.insert_many(list(docs), ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != _DUPLICATE_KEY for e in errors):
                    raise
                duplicates = {e["index"] for e in errors}
            # One find per duplicate: FerretDB answers `{_id: x}` from an index, but decodes
            # the whole collection for `{_id: {$in: [...]}}`.
            found = (self._payments.find_one({"_id": docs[i]["_id"]}) for i in sorted(duplicates))
            existing = {d["_id"]: d for d in found if d is not None}
        out: list[LedgerEntry | Exception] = []
        for i, doc in enumerate(docs):
            if i not in duplicates:
                out.append(_entry(doc))
            elif doc["_id"] in existing:
                out.append(_entry(existing[doc["_id"]]))
            else:  # deleted in between: not something this system does
                out.append(TransientError("mongodb", "claimed payment vanished"))
        return out

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
        """One findAndModify by `_id` alone; a first recorded outcome stands.

        The filter is `_id` only because that is the one filter FerretDB 1.24 hands to its
        storage: any other field (a `status` guard) makes it decode every document of the
        collection in Go for each update (measured: 0.2-0.6 s per update at 3,000 payments).
        The guard moves to the document returned as it was before the update: in the rare case
        a concurrent redelivery decided the payment in between, its outcome is put back. Both
        deciders got the same answer from the bank for the same idempotency key anyway.
        """
        if entry.outcome is not None:
            return entry
        # Whole arrays with $set: FerretDB 1.24's $push is ten times slower.
        history = [*entry.history, StatusChange(outcome.status, now)]
        fields: dict[str, Any] = {
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
        tx = entry.transaction_id
        with mongo_errors():
            before = self._payments.find_one_and_update(
                {"_id": tx}, {"$set": fields}, return_document=ReturnDocument.BEFORE
            )
            if before is None:
                raise TransientError("mongodb", "payment to decide is missing")
            first = _entry(before)
            if first.outcome is None:
                return _entry({**before, **fields})
            self._payments.find_one_and_update(
                {"_id": tx}, {"$set": {k: before.get(k) for k in fields}}
            )
        return first


_DUPLICATE_KEY = 11000


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
