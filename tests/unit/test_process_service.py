"""ProcessService over fakes of its ports (kept honest by tests/contract/test_process_ports.py):
charge once, redelivery republishes what was recorded, and the retry budget."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

from common.domain.events import CardToken, PaymentProcessed, PaymentRequested, parse_event
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox, decode_key, new_key
from functions.process.service import ProcessPolicy, ProcessService, Result
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
            policy=ProcessPolicy("payments.processed", budget_s, inquiry_wait_s=0),
        )

    def process(self, request: PaymentRequested, invocation_s: float = 60) -> Result:
        return self.service.process(request, time.monotonic() + invocation_s)

    def published(self) -> list[PaymentProcessed]:
        return [parse_event(PaymentProcessed, p.value) for p in self.publisher.sent]


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


def test_no_decision_within_the_invocation_is_retried_later_with_its_attempts_kept() -> None:
    rig, req = Rig(budget_s=20), requested()
    rig.bank.down = True
    assert rig.process(req, invocation_s=1) is Result.RETRY_LATER
    assert rig.publisher.sent == []
    assert rig.ledger.claim_all([req], rig.clock.now())[0].attempts == 1
    rig.bank.down = False
    assert rig.process(req) is Result.DONE
    (event,) = rig.published()
    assert (event.status, event.attempts) == ("succeeded", 2)


def test_a_spent_budget_fails_the_payment_once_and_for_good() -> None:
    rig, req = Rig(budget_s=20), requested()
    rig.bank.down = True
    assert rig.process(req, invocation_s=1) is Result.RETRY_LATER
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
