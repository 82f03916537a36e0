"""Payments as processing recorded them, composed from the ledger's immutable documents
(mongo_payment_ledger.py): the claim, the outcome if there is one (with the bank's
acknowledgment of its reversal, if it owes one), and the attempts of invocations that decided
nothing. Point lookups by `_id` only, so the cost of a read does
not grow with the number of payments ever made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.database import Database

from common.adapters.mongo_inserts import find_by_id, find_chain
from common.adapters.mongo_payment_ledger import (
    BANK_ATTEMPTS,
    PAYMENT_CLAIMS,
    PAYMENT_OUTCOMES,
    REVERSAL_ACKS,
    attempts_of,
    live_claim,
    recorded_event,
)
from common.domain.payment import (
    CardSummary,
    PaymentRecord,
    PaymentStatus,
    StatusEntry,
)
from common.domain.ports import BankAttempt, attempt_entries


class MongoPaymentReader:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._claims = db[PAYMENT_CLAIMS]
        self._outcomes = db[PAYMENT_OUTCOMES]
        self._attempts = db[BANK_ATTEMPTS]
        self._reversal_acks = db[REVERSAL_ACKS]

    def get(self, transaction_id: str) -> PaymentRecord | None:
        claim = live_claim(self._claims, transaction_id)
        if claim is None:
            return None
        outcome = find_by_id(self._outcomes, transaction_id)
        if outcome is not None:  # decided: the payment as its published event tells it
            record = recorded_event(outcome).payment_record()
            if record.reversal is None:
                return record
            ack = find_by_id(self._reversal_acks, transaction_id)
            if ack is None:
                return record
            reversal = record.reversal.model_copy(update={"acknowledged_at": ack["acknowledgedAt"]})
            return record.model_copy(update={"reversal": reversal})
        earlier = [a for r in find_chain(self._attempts, transaction_id) for a in r["attempts"]]
        return processing(claim, attempts_of(earlier))


def processing(claim: dict[str, Any], attempts: Sequence[BankAttempt]) -> PaymentRecord:
    """A claimed payment not decided yet."""
    return PaymentRecord(
        transaction_id=claim.get("transactionId", claim["_id"]),
        merchant_id=claim["merchantId"],
        status=PaymentStatus.PROCESSING,
        amount_minor=claim["amountMinor"],
        currency=claim["currency"],
        reference=claim.get("reference"),
        description=claim.get("description"),
        metadata=claim.get("metadata") or {},
        card=CardSummary.model_validate(claim["card"]),
        created_at=claim["createdAt"],
        updated_at=claim["claimedAt"],
        status_history=[
            StatusEntry(status=PaymentStatus.PENDING, at=claim["createdAt"]),
            StatusEntry(status=PaymentStatus.PROCESSING, at=claim["claimedAt"]),
        ],
        bank_attempts=attempt_entries(attempts),
    )
