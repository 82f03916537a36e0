"""The process function's ports, each fake (tests/fakes.py) beside its real adapter: the ledger
(MongoPaymentLedger on the real MongoDB-wire server: the first claim and the first outcome
win) and the bank (ResilientBank over the bank simulator: one decision per key)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from common.adapters.http_bank_client import HttpBankClient
from common.adapters.mongo_payment_ledger import MongoPaymentLedger, MongoPublishFence
from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.adapters.ratio_breaker import BreakerPolicy, RatioCircuitBreaker
from common.adapters.resilient_bank import ResilientBank
from common.domain.errors import BankUnavailableError
from common.domain.events import CardToken, PaymentRequested
from common.domain.payment import PaymentStatus
from common.domain.ports import (
    AuthorizationRequest,
    AuthorizingBank,
    BankAttempt,
    Outcome,
    PaymentLedger,
    PendingReversal,
    PublishFence,
)
from functions.process.service import processed_event
from tests.fakes import FakeBank, FakeBreakerStorage, FakePaymentLedger

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["fake", pytest.param("mongodb", marks=pytest.mark.integration)])
def ledger(request: pytest.FixtureRequest) -> PaymentLedger:
    if request.param == "fake":
        return FakePaymentLedger()
    return MongoPaymentLedger(request.getfixturevalue("mongo_db"))


@pytest.fixture(params=["fake", pytest.param("mongodb", marks=pytest.mark.integration)])
def ledger_and_fence(request: pytest.FixtureRequest) -> tuple[PaymentLedger, PublishFence]:
    if request.param == "fake":
        fake = FakePaymentLedger()
        return fake, fake
    db = request.getfixturevalue("mongo_db")
    return MongoPaymentLedger(db), MongoPublishFence(db)


def republished(req: PaymentRequested) -> PaymentRequested:
    """The same payment published again (a client's retry under its Idempotency-Key)."""
    return req.model_copy(update={"event_id": str(uuid.uuid4())})


def test_a_voided_publish_is_never_claimed_and_a_retry_is_the_payment(
    ledger_and_fence: tuple[PaymentLedger, PublishFence],
) -> None:
    ledger, fence = ledger_and_fence
    kept = requested()
    assert fence.void(kept.transaction_id, kept.event_id, T0) is True
    assert fence.void(kept.transaction_id, kept.event_id, T0) is True  # settled once
    assert ledger.claim_all([kept], T0)[0].voided
    retry = republished(kept)
    first = ledger.claim_all([retry], T0 + timedelta(seconds=1))[0]
    assert not first.voided and first.claimed_at == T0 + timedelta(seconds=1)
    # every later publish of it, and the retry's redelivery, continue that one claim
    for again in (retry, republished(kept), kept):
        entry = ledger.claim_all([again], T0 + timedelta(seconds=5))[0]
        assert entry.voided == (again is kept)
        if not entry.voided:
            assert entry.claimed_at == T0 + timedelta(seconds=1)
    # a later publish in doubt finds the payment claimed: it is durable
    assert fence.void(kept.transaction_id, str(uuid.uuid4()), T0) is False


def test_a_publish_processing_claimed_first_cannot_be_voided(
    ledger_and_fence: tuple[PaymentLedger, PublishFence],
) -> None:
    ledger, fence = ledger_and_fence
    req = requested()
    ledger.claim_all([req], T0)
    assert fence.void(req.transaction_id, req.event_id, T0) is False
    assert not ledger.claim_all([req], T0)[0].voided


def requested() -> PaymentRequested:
    tx = str(uuid.uuid4())
    return PaymentRequested(
        event_id=str(uuid.uuid4()),
        occurred_at=T0,
        transaction_id=tx,
        merchant_id="mer_contract",
        amount_minor=4999,
        currency="EUR",
        reference="order-1",
        webhook_url="https://shop.example/h",
        card=CardToken(
            token="sealed",
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2030,
            fingerprint="fp",
        ),
    )


def attempt(result: str, seconds: int = 0) -> BankAttempt:
    return BankAttempt(T0 + timedelta(seconds=seconds), 12.5, result, None)


def test_the_first_claim_wins_and_a_second_reads_it(ledger: PaymentLedger) -> None:
    req = requested()
    first = ledger.claim_all([req], T0)[0]
    assert (first.claimed_at, first.bank_attempts, first.recorded) == (T0, (), None)
    again = ledger.claim_all([req], T0 + timedelta(seconds=9))[0]
    assert again.claimed_at == T0  # the retry budget runs from the first claim


def test_attempts_without_a_decision_are_kept_for_the_next_claim(ledger: PaymentLedger) -> None:
    req = requested()
    entry = ledger.claim_all([req], T0)[0]
    ledger.record_attempts(entry, [attempt("unavailable"), attempt("unavailable", 1)])
    later = ledger.claim_all([req], T0 + timedelta(seconds=5))[0]
    assert [a.result for a in later.bank_attempts] == ["unavailable", "unavailable"]
    ledger.record_attempts(later, [attempt("unavailable", 6)])
    assert ledger.claim_all([req], T0)[0].attempts == 3


def test_the_first_outcome_stands_and_is_what_a_later_claim_republishes(
    ledger: PaymentLedger,
) -> None:
    req = requested()
    a, b = ledger.claim_all([req, req], T0)  # two deciders of one payment
    failure = Outcome(PaymentStatus.FAILED, failure_reason="bank_unavailable")
    failed = processed_event(req, failure, [attempt("unavailable")], T0, T0)
    approval = Outcome(PaymentStatus.SUCCEEDED, bank_reference="auth_1")
    approved = processed_event(req, approval, [attempt("approved")], T0, T0)
    assert ledger.record_outcomes([(a, failed)]) == [failed]
    assert ledger.record_outcomes([(b, approved)]) == [failed]
    assert ledger.claim_all([req], T0)[0].recorded == failed


def test_a_batch_claims_and_records_together_each_payment_getting_its_own_answer(
    ledger: PaymentLedger,
) -> None:
    old, new = requested(), requested()
    decided = ledger.claim_all([old], T0)[0]
    earlier = processed_event(old, Outcome(PaymentStatus.DECLINED, "card_declined"), [], T0, T0)
    ledger.record_outcomes([(decided, earlier)])
    later = T0 + timedelta(seconds=3)
    entries = ledger.claim_all([new, old], later)
    assert [e.transaction_id for e in entries] == [new.transaction_id, old.transaction_id]
    assert (entries[0].claimed_at, entries[0].recorded) == (later, None)
    assert entries[1].recorded == earlier  # decided before: republish, do not decide
    approved = processed_event(new, Outcome(PaymentStatus.SUCCEEDED), [], later, later)
    again = processed_event(old, Outcome(PaymentStatus.SUCCEEDED), [], later, later)
    assert ledger.record_outcomes([(entries[0], approved), (entries[1], again)]) == [
        approved,
        earlier,
    ]


def test_a_reversal_is_recorded_once_pending_until_acknowledged_and_due_in_order(
    ledger: PaymentLedger,
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    before = ledger.pending_reversals()
    assert ledger.request_reversals([PendingReversal(first, T0)], T0) == [
        PendingReversal(first, T0)
    ]
    again = ledger.request_reversals(
        [PendingReversal(second, T0), PendingReversal(first, T0)], T0 + timedelta(seconds=5)
    )
    assert [r.transaction_id for r in again] == [second]  # the first was recorded before
    assert ledger.pending_reversals() == before + 2
    mine = {first, second}
    due = [
        r for r in ledger.due_reversals(T0 + timedelta(seconds=1), 1000) if r.transaction_id in mine
    ]
    assert [r.transaction_id for r in due] == [first]  # recorded once, due when first asked
    later = T0 + timedelta(seconds=10)
    due = [r for r in ledger.due_reversals(later, 1000) if r.transaction_id in mine]
    assert [r.transaction_id for r in due] == [first, second]
    ledger.postpone_reversals([due[0]], later + timedelta(seconds=60))
    due = [r for r in ledger.due_reversals(later, 1000) if r.transaction_id in mine]
    assert [(r.transaction_id, r.tries) for r in due] == [(second, 0)]
    tried = [
        r
        for r in ledger.due_reversals(later + timedelta(seconds=60), 1000)
        if r.transaction_id == first
    ]
    assert [r.tries for r in tried] == [1]
    ledger.acknowledge_reversals([first, second], later)
    ledger.acknowledge_reversals([first], later)  # a repeat is harmless
    assert ledger.pending_reversals() == before
    assert not [
        r for r in ledger.due_reversals(later + timedelta(days=1), 1000) if r.transaction_id in mine
    ]
    assert ledger.request_reversals([PendingReversal(first, T0)], T0) == []  # stays done
    assert ledger.pending_reversals() == before


@dataclass
class BankUnderTest:
    bank: AuthorizingBank
    set_outage: Callable[[bool], None]


@pytest.fixture(params=["fake", pytest.param("simulator", marks=pytest.mark.integration)])
def bank_port(request: pytest.FixtureRequest) -> BankUnderTest:
    if request.param == "fake":
        fake = FakeBank()
        return BankUnderTest(fake, lambda down: setattr(fake, "down", down))
    url = request.getfixturevalue("bank")
    breaker = RatioCircuitBreaker(FakeBreakerStorage(), BreakerPolicy(minimum_throughput=50))
    return BankUnderTest(
        ResilientBank(HttpBankClient(url), breaker, 0.5),
        lambda down: requests.put(f"{url}/control", json={"outage": down}, timeout=5).close(),
    )


def authorization(number: str) -> AuthorizationRequest:
    return AuthorizationRequest(
        str(uuid.uuid4()), "mer_contract", 4999, "EUR", number, 12, 2030, None
    )


def test_the_bank_decides_once_per_key_and_tells_what_it_decided(bank_port: BankUnderTest) -> None:
    bank, seen = bank_port.bank, list[BankAttempt]()
    approved = authorization("4242424242424242")
    assert bank.inquire(approved.transaction_id, 0) is None
    first = bank.authorize(approved, time.monotonic() + 5, seen.append)
    again = bank.authorize(approved, time.monotonic() + 5, seen.append)
    assert first.approved and again == first  # the same key: the first answer, no new charge
    assert bank.inquire(approved.transaction_id, 0) == first
    declined = bank.authorize(authorization("4000000000009995"), time.monotonic() + 5, seen.append)
    assert (declined.approved, declined.decline_code) == (False, "insufficient_funds")
    assert [a.result for a in seen] == ["approved", "approved", "declined"]


def test_a_bank_that_does_not_answer_is_unavailable_by_the_deadline(
    bank_port: BankUnderTest,
) -> None:
    bank_port.set_outage(True)
    seen: list[BankAttempt] = []
    started = time.monotonic()
    with pytest.raises(BankUnavailableError):
        bank_port.bank.authorize(authorization("4242424242424242"), started + 1, seen.append)
    assert time.monotonic() - started < 3
    assert seen and all(a.result == "unavailable" for a in seen)
    bank_port.set_outage(False)


def test_a_reversal_voids_the_approval_and_is_harmless_to_repeat(
    bank_port: BankUnderTest,
) -> None:
    bank, seen = bank_port.bank, list[BankAttempt]()
    approved = authorization("4242424242424242")
    assert bank.authorize(approved, time.monotonic() + 5, seen.append).approved
    assert bank.reverse(approved.transaction_id) and bank.reverse(approved.transaction_id)
    found = bank.inquire(approved.transaction_id, 0)
    assert found is not None and found.approved and found.reversed
    replay = bank.authorize(approved, time.monotonic() + 5, seen.append)
    assert replay.reversed  # a repeat of the authorization learns it was reversed
    bank_port.set_outage(True)
    try:
        assert not bank.reverse(authorization("4242424242424242").transaction_id)
    finally:
        bank_port.set_outage(False)


@pytest.mark.integration
def test_the_reader_composes_what_the_ledger_recorded(mongo_db: Any) -> None:
    ledger, reader = MongoPaymentLedger(mongo_db), MongoPaymentReader(mongo_db)
    req = requested()
    assert reader.get(req.transaction_id) is None
    entry = ledger.claim_all([req], T0 + timedelta(seconds=1))[0]
    processing = reader.get(req.transaction_id)
    assert processing is not None and processing.status is PaymentStatus.PROCESSING
    ledger.record_attempts(entry, [attempt("unavailable", 1)])
    assert [a.result for a in reader.get(req.transaction_id).bank_attempts] == ["unavailable"]
    again = ledger.claim_all([req], T0 + timedelta(seconds=2))[0]
    decline = Outcome(PaymentStatus.DECLINED, decline_code="card_declined")
    every = [*again.bank_attempts, attempt("declined", 3)]
    ledger.record_outcomes([(again, processed_event(req, decline, every, again.claimed_at, T0))])
    record = reader.get(req.transaction_id)
    assert record is not None
    assert (record.status, record.decline_code, record.card.last4) == (
        PaymentStatus.DECLINED,
        "card_declined",
        "4242",
    )
    assert [h.status for h in record.status_history] == ["pending", "processing", "declined"]
    assert [a.result for a in record.bank_attempts] == ["unavailable", "declined"]
    for collection in mongo_db.list_collection_names():
        assert "sealed" not in str(list(mongo_db[collection].find()))  # no card token stored
