"""ProcessService over fakes of its ports (kept honest by tests/contract/test_process_ports.py):
charge once, redelivery republishes what was recorded, and the retry budget."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from common.domain.events import CardToken, PaymentProcessed, PaymentRequested, parse_event
from common.inline_executor import InlineExecutor
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox, decode_key, new_key
from functions.process.service import RETRY_DUE_HEADER, ProcessPolicy, ProcessService, Result
from tests.fakes import FakeBank, FakePaymentLedger, FakePublisher, FixedClock

VAULT = CardVault(SealedBox(decode_key(new_key())), KeyedHasher(bytes(32)))


def requested(number: str = "4242424242424242") -> PaymentRequested:
    tx = str(uuid.uuid4())
    return PaymentRequested(
        event_id=str(uuid.uuid4()),
        occurred_at=FixedClock().now(),
        transaction_id=tx,
        merchant_id="mer_unit",
        amount_minor=4999,
        currency="EUR",
        webhook_url="https://shop.example/h",
        card=CardToken(
            token=VAULT.tokenize(number, tx),
            brand="visa",
            last4=number[-4:],
            exp_month=12,
            exp_year=2030,
            fingerprint="fp",
        ),
    )


class Rig:
    def __init__(self, ledger: FakePaymentLedger | None = None, budget_s: float = 20) -> None:
        self.ledger, self.bank = ledger or FakePaymentLedger(), FakeBank()
        self.publisher, self.clock = FakePublisher(), FixedClock()
        self.service = ProcessService(
            ledger=self.ledger,
            bank=self.bank,
            vault=VAULT,
            publisher=self.publisher,
            clock=self.clock,
            policy=ProcessPolicy(
                processed_topic="payments.processed",
                retry_topic="payments.requested.retry",
                retry_budget_s=budget_s,
                inquiry_wait_s=0,
            ),
        )

    def process(self, request: PaymentRequested, invocation_s: float = 60) -> Result:
        return self.service.process(request, time.monotonic() + invocation_s)

    def published(self) -> list[PaymentProcessed]:
        return [
            parse_event(PaymentProcessed, p.value)
            for p in self.publisher.sent
            if p.topic == "payments.processed"
        ]

    def parked(self) -> list[tuple[PaymentRequested, int]]:
        """The retry topic's records: the payment and when it is due (epoch ms)."""
        return [
            (parse_event(PaymentRequested, p.value), int(dict(p.headers)[RETRY_DUE_HEADER]))
            for p in self.publisher.sent
            if p.topic == "payments.requested.retry"
        ]


def test_a_redelivery_republishes_the_recorded_outcome_without_asking_the_bank() -> None:
    rig, req = Rig(), requested()
    assert rig.process(req) is Result.DONE
    rig.bank.down = True  # the bank is not asked again: its state does not matter
    assert rig.process(req) is Result.DONE
    first, second = rig.published()
    assert first == second and first.status == "succeeded"
    assert rig.bank.calls[req.transaction_id] == 1


def test_a_second_decider_publishes_the_first_ones_outcome() -> None:
    shared = FakePaymentLedger()
    first, second = Rig(shared), Rig(shared)
    req = requested()
    first.ledger.claim_all([req], first.clock.now())  # the second decider claimed it first
    second.bank.down = True  # and would decide `failed` on its own
    assert first.process(req) is Result.DONE
    assert second.process(req) is Result.DONE
    assert second.published() == first.published()
    assert first.published()[0].status == "succeeded"


def test_a_publish_intake_voided_is_never_charged_nor_reported() -> None:
    rig, req = Rig(), requested()
    rig.ledger.void(req.transaction_id, req.event_id, rig.clock.now())  # intake answered 503
    assert rig.process(req) is Result.DONE
    assert rig.bank.calls == {} and rig.published() == [] and rig.parked() == []


def test_no_decision_within_one_attempt_parks_the_payment_with_its_attempts_kept() -> None:
    rig, req = Rig(budget_s=20), requested()
    rig.bank.down = True
    assert rig.process(req) is Result.PARKED
    ((parked, due_ms),) = rig.parked()
    assert parked == req and rig.published() == []
    assert due_ms == int((rig.clock.now() + timedelta(seconds=1)).timestamp() * 1000)
    assert rig.ledger.claim_all([req], rig.clock.now())[0].attempts == 1
    rig.bank.down = False
    assert rig.process(req) is Result.DONE
    (event,) = rig.published()
    assert (event.status, event.attempts) == ("succeeded", 2)


def test_a_spent_budget_fails_the_payment_once_and_for_good() -> None:
    rig, req = Rig(budget_s=20), requested()
    rig.bank.down = True
    assert rig.process(req) is Result.PARKED
    rig.clock.at += timedelta(seconds=21)  # the budget runs from the first claim
    assert rig.process(req) is Result.DONE
    rig.bank.down = False
    assert rig.process(req) is Result.DONE  # redelivered: the failure stands
    failed, again = rig.published()
    assert failed == again
    assert (failed.status, failed.failure_reason) == ("failed", "bank_unavailable")


def test_a_declined_card_is_declined_with_its_code() -> None:
    rig = Rig()
    assert rig.process(requested("4000000000000002")) is Result.DONE
    (event,) = rig.published()
    assert (event.status, event.decline_code) == ("declined", "card_declined")


def test_a_payment_given_up_after_a_timeout_is_reversed_before_its_failure_is_published() -> None:
    rig, req = Rig(budget_s=20), requested()
    rig.bank.silent = True  # every attempt times out: the bank may have authorized it
    assert rig.process(req) is Result.PARKED
    rig.clock.at += timedelta(seconds=21)
    assert rig.process(req) is Result.DONE
    (failed,) = rig.published()
    assert (failed.status, failed.failure_reason) == ("failed", "bank_unavailable")
    assert failed.reversal is not None and failed.reversal.requested_at == rig.clock.now()
    assert req.transaction_id in rig.bank.reversed
    assert req.transaction_id in rig.ledger.reversal_acks and rig.ledger.pending_reversals() == 0


def test_a_reversal_the_bank_cannot_take_stays_pending_and_the_schedule_completes_it() -> None:
    rig, req = Rig(budget_s=20), requested()
    rig.bank.silent = True
    assert rig.process(req) is Result.PARKED
    rig.clock.at += timedelta(seconds=21)
    rig.bank.down = True  # and the bank is down when the reversal is due
    assert rig.process(req) is Result.DONE
    (failed,) = rig.published()
    assert failed.status == "failed" and failed.reversal is not None  # the merchant is told now
    assert rig.ledger.pending_reversals() == 1
    assert rig.service.reverse_due(InlineExecutor(), 10) == (0, 0)  # not due yet
    rig.clock.at += timedelta(seconds=10)
    assert rig.service.reverse_due(InlineExecutor(), 10) == (1, 0)  # due, the bank still down
    rig.bank.down = False
    rig.clock.at += timedelta(seconds=10)
    assert rig.service.reverse_due(InlineExecutor(), 10) == (1, 1)
    assert rig.ledger.pending_reversals() == 0 and req.transaction_id in rig.bank.reversed
    assert rig.process(req) is Result.DONE  # redelivered: the failure stands
    assert rig.published()[-1] == failed


def test_a_bank_that_answered_503_owes_no_reversal() -> None:
    rig, req = Rig(budget_s=20), requested()
    rig.bank.down = True  # 503s: the bank said it did not authorize
    assert rig.process(req) is Result.PARKED
    rig.clock.at += timedelta(seconds=21)
    assert rig.process(req) is Result.DONE
    (failed,) = rig.published()
    assert failed.status == "failed" and failed.reversal is None
    assert rig.bank.reversed == set() and rig.ledger.pending_reversals() == 0


def test_an_approval_found_reversed_is_a_failure_not_a_success() -> None:
    rig, req = Rig(), requested()
    rig.bank.reverse(req.transaction_id)  # a reversal got to the bank first
    assert rig.process(req) is Result.DONE
    (event,) = rig.published()
    assert (event.status, event.failure_reason) == ("failed", "bank_unavailable")
