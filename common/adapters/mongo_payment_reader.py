"""Payments as processing recorded them, composed from the ledger's immutable documents
(mongo_payment_ledger.py): the claim, the outcome if there is one, and the attempts of
invocations that decided nothing. Point lookups by `_id` only, so the cost of a read does
not grow with the number of payments ever made.
"""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from common.adapters.mongo_inserts import find_by_id, find_chain
from common.adapters.mongo_payment_ledger import BANK_ATTEMPTS, PAYMENT_CLAIMS, PAYMENT_OUTCOMES
from common.domain.payment import (
    AttemptEntry,
    CardSummary,
    PaymentRecord,
    PaymentStatus,
    StatusEntry,
)


class MongoPaymentReader:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._claims = db[PAYMENT_CLAIMS]
        self._outcomes = db[PAYMENT_OUTCOMES]
        self._attempts = db[BANK_ATTEMPTS]

    def get(self, transaction_id: str) -> PaymentRecord | None:
        claim = find_by_id(self._claims, transaction_id)
        if claim is None:
            return None
        outcome = find_by_id(self._outcomes, transaction_id)
        deciding = (outcome or {}).get("bankAttempts") or []
        earlier: list[dict[str, Any]] = []
        if outcome is None or outcome["attempts"] > len(deciding):
            earlier = [a for r in find_chain(self._attempts, transaction_id) for a in r["attempts"]]
        return payment_record(claim, outcome, [*earlier, *deciding])


def payment_record(
    claim: dict[str, Any], outcome: dict[str, Any] | None, attempts: list[dict[str, Any]]
) -> PaymentRecord:
    history = [
        StatusEntry(status=PaymentStatus.PENDING, at=claim["createdAt"]),
        StatusEntry(status=PaymentStatus.PROCESSING, at=claim["claimedAt"]),
    ]
    status, updated_at = PaymentStatus.PROCESSING, claim["claimedAt"]
    if outcome is not None:
        status, updated_at = PaymentStatus(outcome["status"]), outcome["processedAt"]
        history.append(StatusEntry(status=status, at=updated_at))
    return PaymentRecord(
        transaction_id=claim["_id"],
        merchant_id=claim["merchantId"],
        status=status,
        amount_minor=claim["amountMinor"],
        currency=claim["currency"],
        reference=claim.get("reference"),
        description=claim.get("description"),
        metadata=claim.get("metadata") or {},
        card=CardSummary.model_validate(claim["card"]),
        created_at=claim["createdAt"],
        updated_at=updated_at,
        decline_code=(outcome or {}).get("declineCode"),
        failure_reason=(outcome or {}).get("failureReason"),
        status_history=history,
        bank_attempts=[
            AttemptEntry(
                at=a["at"], latency_ms=a["latencyMs"], result=a["result"], detail=a.get("detail")
            )
            for a in attempts
        ],
    )
