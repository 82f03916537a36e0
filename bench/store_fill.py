"""A store of decided, delivered payments, written fast and exactly as the gateway writes it.

Each payment is the four documents the ledger holds for it once it is settled
(README.md, "Data model: every decision is an insert"): its claim and its outcome, which
holds the PaymentProcessed as process builds it (`processed_event`), from MongoPaymentLedger;
its webhook delivery, as notify creates it, and one delivered attempt, from
MongoWebhookDeliveries. The adapters themselves make the documents: they write into
`RecordedInserts`, a stand-in for the database that keeps what they insert, and the bench
then writes those documents with one unordered insert_many per collection and batch. No
shape is copied here, so the store follows the adapters when they change.

One payment in ten is declined (the bank simulator's card_declined card); every webhook was
answered 2xx on its first attempt, so the due-index is empty, as in a store at rest.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from pymongo.database import Database

from common.adapters.mongo_payment_ledger import MongoPaymentLedger
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.domain.events import CardToken, PaymentProcessed, PaymentRequested
from common.domain.payment import PaymentStatus
from common.domain.ports import BankAttempt, Outcome
from common.domain.webhooks import (
    DeliveryAttempt,
    after_attempt,
    new_delivery,
)
from functions.process.service import processed_event

Doc = dict[str, Any]

BATCH = 1000
"""Payments per insert_many round (four documents each): FerretDB on SQLite pays per
statement, so large batches fill at its bulk-insert rate."""

DECLINED_EVERY = 10
_IDS = uuid.UUID("6f1d2c3b-8a4e-4b5f-9c7d-0e1f2a3b4c5d")
_CARDS = {
    PaymentStatus.SUCCEEDED: "4242424242424242",
    PaymentStatus.DECLINED: "4000000000000002",  # harness/bank.py: card_declined
}


@dataclass(frozen=True)
class StoreOwner:
    """The merchant whose payments fill the store, and where its webhooks go."""

    merchant_id: str
    webhook_url: str


@dataclass(frozen=True)
class Filled:
    payments: int
    documents: int
    seconds: float


class RecordedInserts:
    """Stands in for a pymongo Database towards the ledger's adapters: every insert wins and
    is kept, by collection, in order, until taken."""

    def __init__(self) -> None:
        self.docs: dict[str, list[Doc]] = defaultdict(list)

    def __getitem__(self, name: str) -> _RecordedCollection:
        return _RecordedCollection(self, name)

    def take(self) -> dict[str, list[Doc]]:
        """What was inserted since the last take, by collection."""
        taken, self.docs = dict(self.docs), defaultdict(list)
        return taken


class _RecordedCollection:
    def __init__(self, inserts: RecordedInserts, name: str) -> None:
        self._inserts = inserts
        self._name = name

    def insert_many(self, docs: Iterable[Doc], ordered: bool = True) -> None:
        self._inserts.docs[self._name].extend(docs)


def transaction_id(n: int) -> str:
    """The n-th payment of the store (deterministic, shaped like intake's ids)."""
    return str(uuid.uuid5(_IDS, f"store-{n}"))


def status_of(n: int) -> PaymentStatus:
    declined = n % DECLINED_EVERY == DECLINED_EVERY - 1
    return PaymentStatus.DECLINED if declined else PaymentStatus.SUCCEEDED


def requested(owner: StoreOwner, n: int, at: datetime) -> PaymentRequested:
    """The PaymentRequested intake would have published for the n-th payment."""
    number = _CARDS[status_of(n)]
    return PaymentRequested(
        event_id=str(uuid.uuid5(_IDS, f"requested-{n}")),
        occurred_at=at,
        transaction_id=transaction_id(n),
        merchant_id=owner.merchant_id,
        amount_minor=4999,
        currency="EUR",
        reference=f"store-{n}",
        webhook_url=owner.webhook_url,
        card=CardToken(
            brand="visa",
            last4=number[-4:],
            exp_month=12,
            exp_year=2030,
            fingerprint=f"fp_{hashlib.sha256(number.encode()).hexdigest()[:32]}",
            token="sealed-for-the-bank",  # noqa: S106 - not a secret; the claim drops it
        ),
    )


def outcome_of(n: int) -> Outcome:
    bank_reference = f"auth_{uuid.uuid5(_IDS, f'auth-{n}').hex[:16]}"
    if status_of(n) is PaymentStatus.DECLINED:
        return Outcome(PaymentStatus.DECLINED, "card_declined", bank_reference=bank_reference)
    return Outcome(PaymentStatus.SUCCEEDED, bank_reference=bank_reference)


class LedgerRecorder:
    """The ledger's adapters over RecordedInserts: `settled(owner, numbers, now)` records
    what the gateway writes for those payments, processed as one batch, from their claims
    to their delivered webhooks."""

    def __init__(self) -> None:
        self.recorded = RecordedInserts()
        db = cast("Database[Doc]", self.recorded)
        self._ledger = MongoPaymentLedger(db)
        self._deliveries = MongoWebhookDeliveries(db)

    def settled(self, owner: StoreOwner, numbers: Sequence[int], now: datetime) -> None:
        # accepted a millisecond apart, then claimed and decided together, as one batch
        requests = [
            requested(owner, n, now - timedelta(milliseconds=len(numbers) - i))
            for i, n in enumerate(numbers)
        ]
        claimed = now + timedelta(milliseconds=4)
        entries = self._ledger.claim_all(requests, claimed)
        decided = claimed + timedelta(milliseconds=5)
        events = [
            decided_event(r, n, claimed, decided) for r, n in zip(requests, numbers, strict=True)
        ]
        self._ledger.record_outcomes(list(zip(entries, events, strict=True)))
        deliveries = [new_delivery(e, decided + timedelta(milliseconds=3)) for e in events]
        self._deliveries.create_all(deliveries)
        answered = DeliveryAttempt(decided + timedelta(milliseconds=4), 204, None, 3.1)
        # a 2xx is final whatever the retry schedule: none is needed
        delivered = [after_attempt(d, answered, ()) for d in deliveries]
        self._deliveries.record_all(delivered, indexed=False)


def decided_event(
    request: PaymentRequested, n: int, claimed: datetime, decided: datetime
) -> PaymentProcessed:
    """The PaymentProcessed process publishes for the n-th payment: one bank call."""
    outcome = outcome_of(n)
    result = "approved" if outcome.status is PaymentStatus.SUCCEEDED else "declined"
    bank = BankAttempt(claimed + timedelta(milliseconds=1), 2.4, result)
    return processed_event(request, outcome, [bank], claimed, decided)


def batches(start: int, stop: int, size: int) -> list[range]:
    """[start, stop) in consecutive ranges of at most `size`."""
    return [range(i, min(stop, i + size)) for i in range(start, stop, size)]


def write(db: Database[Doc], docs: Mapping[str, Sequence[Doc]]) -> int:
    """One unordered insert_many per collection; how many documents were written."""
    for name, rows in docs.items():
        if rows:
            db[name].insert_many(list(rows), ordered=False)
    return sum(len(rows) for rows in docs.values())


def fill(db: Database[Doc], owner: StoreOwner, start: int, stop: int) -> Filled:
    """Payments start … stop-1 of the store, written in batches of BATCH."""
    started = time.monotonic()
    recorder = LedgerRecorder()
    documents = 0
    for chunk in batches(start, stop, BATCH):
        recorder.settled(owner, chunk, datetime.now(UTC))
        documents += write(db, recorder.recorded.take())
    return Filled(stop - start, documents, time.monotonic() - started)
