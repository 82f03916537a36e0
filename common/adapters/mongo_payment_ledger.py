"""The append-only transaction log (DESIGN.md §8): three collections of immutable documents,
each inserted against a deterministic `_id`; the first insert wins and nothing is updated.

payment_claims    _id = transaction id. The claim: the payment as requested (no card token,
                  never the number: brand/last4/fingerprint only), the `eventId` of the
                  publish it came from, and `claimedAt`, the start of its retry budget. A
                  second claim of the same payment is refused by the unique `_id` and reads
                  the first. Or, in the same slot, a void marker (`void`, `eventId`,
                  `voidedAt`) inserted by intake when the broker's acknowledgment of that
                  publish did not come in time and intake answered 503: that publish is
                  never processed. Another publish of the same transaction (the client's
                  retry under its Idempotency-Key) claims the next slot, "{id}#1", and so on:
                  the first slot not voided for another publish is the payment's claim.
bank_attempts     _id = "{transactionId}#{n}", n = 1, 2, …: the attempts of one invocation
                  that got no decision from the bank (it will try again later).
payment_outcomes  _id = transaction id. The decision: status, decline code or failure
                  reason, bank reference (for people reading the database), and `event`, the
                  PaymentProcessed exactly as it is published (the outbox), every bank
                  attempt and the claim time included. Recorded
                  before it is published; a second decider's insert is refused and it
                  publishes the first one's event instead of its own.

payment_reversals _id = transaction id. The gateway reversed the authorization of a payment it
                  reported `failed` with an attempt in doubt (requestedAt).
reversal_acks     _id = transaction id. The bank confirmed that reversal (acknowledgedAt).
reversals_due     _id = transaction id. A projection, not a fact: the reversals still to be
                  confirmed and when to try next (dueAt, tries); deleted once acknowledged,
                  rebuilt from the two above if lost. Nothing is decided by reading it: a
                  reversal repeated is harmless.

The claims of one batch go to the database together, and so do its outcomes (one unordered
insert_many each: common/adapters/mongo_inserts.py). Every read is by `_id`. The read side
(mongo_payment_reader.py) composes a payment from the same three.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database

from common.adapters.mongo_connection import mongo_errors
from common.adapters.mongo_inserts import Doc, find_by_id, find_chain, insert_new
from common.domain.errors import TransientError
from common.domain.events import PaymentProcessed, PaymentRequested, parse_event
from common.domain.ports import BankAttempt, LedgerEntry, PendingReversal

PAYMENT_CLAIMS = "payment_claims"
PAYMENT_OUTCOMES = "payment_outcomes"
BANK_ATTEMPTS = "bank_attempts"
PAYMENT_REVERSALS = "payment_reversals"
REVERSAL_ACKS = "reversal_acks"
REVERSALS_DUE = "reversals_due"

_RACES = 5
"""How many numbers a record of attempts tries when concurrent deciders take them."""
_MAX_VOIDED = 20
"""Publishes of one payment voided in a row before a claim gives up (each is a 503 answered
to the merchant; twenty in a row is an outage, and the claim is retried later)."""


class MongoPaymentLedger:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._claims = db[PAYMENT_CLAIMS]
        self._outcomes = db[PAYMENT_OUTCOMES]
        self._attempts = db[BANK_ATTEMPTS]
        self._reversals = db[PAYMENT_REVERSALS]
        self._reversal_acks = db[REVERSAL_ACKS]
        self._reversals_due = db[REVERSALS_DUE]

    def claim_all(self, requests: Sequence[PaymentRequested], now: datetime) -> list[LedgerEntry]:
        taken = insert_new(self._claims, [claim_document(r, now) for r in requests])
        return [
            self._claimed_before(r, now) if i in taken else LedgerEntry(r.transaction_id, now)
            for i, r in enumerate(requests)
        ]

    def _claimed_before(self, request: PaymentRequested, now: datetime) -> LedgerEntry:
        tx = request.transaction_id
        first = next_claim_slot(
            self._claims, tx, request.event_id, lambda slot: claim_document(request, now, slot)
        )
        if first is None:
            return LedgerEntry(tx, now)
        if first.get("void"):
            return LedgerEntry(tx, first["voidedAt"], voided=True)
        outcome = find_by_id(self._outcomes, tx)
        if outcome is not None:
            return LedgerEntry(tx, first["claimedAt"], recorded=recorded_event(outcome))
        records = find_chain(self._attempts, tx)
        attempts = tuple(a for r in records for a in attempts_of(r["attempts"]))
        return LedgerEntry(tx, first["claimedAt"], attempts, len(records))

    def record_attempts(self, entry: LedgerEntry, attempts: Sequence[BankAttempt]) -> None:
        if not attempts:
            return
        for n in range(entry.attempt_records + 1, entry.attempt_records + 1 + _RACES):
            doc = {
                "_id": f"{entry.transaction_id}#{n}",
                "transactionId": entry.transaction_id,
                "attempts": attempt_documents(attempts),
            }
            if not insert_new(self._attempts, [doc]):
                return
        raise TransientError("mongodb", "attempt records kept being taken")

    def record_outcomes(
        self, decided: Sequence[tuple[LedgerEntry, PaymentProcessed]]
    ) -> list[PaymentProcessed]:
        taken = insert_new(self._outcomes, [outcome_document(e) for _entry, e in decided])
        return [
            self._recorded_before(e.transaction_id) if i in taken else e
            for i, (_entry, e) in enumerate(decided)
        ]

    def request_reversals(
        self, reversals: Sequence[PendingReversal], due: datetime
    ) -> list[PendingReversal]:
        facts = [{"_id": r.transaction_id, "requestedAt": r.requested_at} for r in reversals]
        taken = insert_new(self._reversals, facts)
        fresh = [r for i, r in enumerate(reversals) if i not in taken]
        insert_new(
            self._reversals_due,
            [
                {"_id": r.transaction_id, "requestedAt": r.requested_at, "dueAt": due, "tries": 0}
                for r in fresh
            ],
        )
        return fresh

    def acknowledge_reversals(self, transaction_ids: Sequence[str], at: datetime) -> None:
        if not transaction_ids:
            return
        insert_new(
            self._reversal_acks, [{"_id": tx, "acknowledgedAt": at} for tx in transaction_ids]
        )
        with mongo_errors():
            self._reversals_due.delete_many({"_id": {"$in": list(transaction_ids)}})

    def due_reversals(self, now: datetime, limit: int) -> list[PendingReversal]:
        with mongo_errors():
            docs = list(
                self._reversals_due.find({"dueAt": {"$lte": now}})
                .sort("dueAt", ASCENDING)
                .limit(limit)
            )
        return [PendingReversal(d["_id"], d["requestedAt"], int(d.get("tries", 0))) for d in docs]

    def postpone_reversals(self, reversals: Sequence[PendingReversal], due: datetime) -> None:
        with mongo_errors():
            for r in reversals:
                self._reversals_due.update_one(
                    {"_id": r.transaction_id}, {"$set": {"dueAt": due, "tries": r.tries + 1}}
                )

    def pending_reversals(self) -> int:
        with mongo_errors():
            return int(self._reversals_due.count_documents({}))

    def _recorded_before(self, tx: str) -> PaymentProcessed:
        first = find_by_id(self._outcomes, tx)
        if first is None:  # outcomes are never deleted
            raise TransientError("mongodb", "recorded outcome vanished")
        return recorded_event(first)


def outcome_document(processed: PaymentProcessed) -> dict[str, Any]:
    return {
        "_id": processed.transaction_id,
        "merchantId": processed.merchant_id,
        "status": processed.status,
        "declineCode": processed.decline_code,
        "failureReason": processed.failure_reason,
        "bankReference": processed.bank_reference,
        "processedAt": processed.processed_at,
        "attempts": processed.attempts,
        "event": processed.to_json().decode(),
    }


def claim_document(
    request: PaymentRequested, now: datetime, slot: str | None = None
) -> dict[str, Any]:
    return {
        "_id": slot or request.transaction_id,
        "transactionId": request.transaction_id,
        "eventId": request.event_id,
        "merchantId": request.merchant_id,
        "amountMinor": request.amount_minor,
        "currency": request.currency,
        "reference": request.reference,
        "description": request.description,
        "metadata": request.metadata,
        "card": request.card.model_dump(by_alias=True, exclude={"token"}),
        "webhookUrl": request.webhook_url,
        "createdAt": request.occurred_at,
        "claimedAt": now,
    }


def claim_slots(tx: str) -> Iterator[str]:
    """The `_id`s a payment's claim may hold, in order: after a voided publish, the next."""
    yield tx
    for n in range(1, _MAX_VOIDED + 1):
        yield f"{tx}#{n}"


def next_claim_slot(
    claims: Collection[Doc], tx: str, event_id: str, new_doc: Callable[[str], Doc]
) -> Doc | None:
    """After the first slot was found taken: walk the payment's slots, skipping those voided
    for another publish, to the first one free (insert `new_doc(slot)` there and answer None)
    or held (answer what holds it: the payment's claim, or this publish's void marker)."""
    slots = claim_slots(tx)
    next(slots)
    held = find_by_id(claims, tx)
    for slot in slots:
        if held is None:  # claims are never deleted
            raise TransientError("mongodb", "claimed payment vanished")
        if not (held.get("void") and held.get("eventId") != event_id):
            return held
        if not insert_new(claims, [new_doc(slot)]):
            return None
        held = find_by_id(claims, slot)
    raise TransientError("mongodb", "too many voided publishes of one payment")


def live_claim(claims: Collection[Doc], tx: str) -> Doc | None:
    """The payment's claim (read side): the first slot that is not a void marker."""
    for slot in claim_slots(tx):
        doc = find_by_id(claims, slot)
        if doc is None or not doc.get("void"):
            return doc
    return None


def recorded_event(outcome: dict[str, Any]) -> PaymentProcessed:
    return parse_event(PaymentProcessed, outcome["event"].encode())


def attempt_documents(attempts: Sequence[BankAttempt]) -> list[dict[str, Any]]:
    return [
        {"at": a.at, "latencyMs": a.latency_ms, "result": a.result, "detail": a.detail}
        for a in attempts
    ]


def attempts_of(docs: Sequence[dict[str, Any]]) -> list[BankAttempt]:
    return [BankAttempt(a["at"], a["latencyMs"], a["result"], a.get("detail")) for a in docs]


class MongoPublishFence:
    """PublishFence on the claims collection: intake's void marker and processing's claim
    compete for the same slot, and the first insert wins."""

    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._claims = db[PAYMENT_CLAIMS]

    def void(self, transaction_id: str, event_id: str, at: datetime) -> bool:
        def marker(slot: str) -> Doc:
            return {
                "_id": slot,
                "transactionId": transaction_id,
                "void": True,
                "eventId": event_id,
                "voidedAt": at,
            }

        if not insert_new(self._claims, [marker(transaction_id)]):
            return True
        held = next_claim_slot(self._claims, transaction_id, event_id, marker)
        return held is None or bool(held.get("void"))
