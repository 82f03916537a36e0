"""process_payment: claim, authorize once, record, publish. Over ports only.

Exactly-once effect on at-least-once input (DESIGN.md §8):
- the claim is an insert against a unique `_id` (the transaction id);
- the bank is called with the transaction id as its idempotency key, so a repeat returns
  the first answer instead of charging again;
- the outcome is inserted against the transaction id before it is published, and what is
  published is what was recorded: a second decider's insert is refused and it publishes the
  first one's event; a redelivery of a decided payment republishes that same event and never
  asks the bank again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from common.domain.errors import BankUnavailableError, PermanentError, TransientError
from common.domain.events import PaymentProcessed, PaymentRequested
from common.domain.payment import CardSummary, PaymentStatus
from common.domain.ports import (
    AuthorizationRequest,
    AuthorizingBank,
    BankAttempt,
    Clock,
    EventPublisher,
    LedgerEntry,
    Outcome,
    OutgoingMessage,
    PaymentLedger,
    attempt_entries,
)
from common.inline_executor import InlineExecutor
from common.security.card_vault import CardVault
from common.security.sealed_box import SealedBoxError

log = logging.getLogger("paygate.process")

_PROCESSED_NS = uuid.UUID("6f1d3c3e-1b7a-4f7e-9a0e-5c2d1e0b9a11")


class Result(Enum):
    DONE = "done"
    RETRY_LATER = "retry_later"
    """No decision yet and the payment's budget is not spent: hand the record back."""


@dataclass(frozen=True)
class ProcessPolicy:
    processed_topic: str
    retry_budget_s: float
    """How long a payment may wait for a bank decision, from its claim, before `failed`."""
    inquiry_wait_s: float = 2.0
    """Once the budget is spent after a timeout: how long to keep asking the bank whether
    it decided anyway (about one attempt's timeout, the time an authorization in flight
    at the bank may still take)."""


class ProcessService:
    def __init__(
        self,
        *,
        ledger: PaymentLedger,
        bank: AuthorizingBank,
        vault: CardVault,
        publisher: EventPublisher,
        clock: Clock,
        policy: ProcessPolicy,
    ) -> None:
        self._ledger = ledger
        self._bank = bank
        self._vault = vault
        self._publisher = publisher
        self._clock = clock
        self._policy = policy

    def process(self, request: PaymentRequested, invocation_deadline: float) -> Result:
        """One payment (a batch of one)."""
        outcome = self.process_all([request], invocation_deadline, InlineExecutor())[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def process_all(
        self,
        requests: Sequence[PaymentRequested],
        invocation_deadline: float,
        executor: Executor,
    ) -> list[Result | Exception]:
        """A batch of distinct payments, in three round trips to the ledger and one flush of
        publishes: the claims (one insert_many), the bank decisions (concurrently), the
        outcomes (one insert_many), then every PaymentProcessed at once. A crash between
        recording and publishing is repaired by the redelivery, which finds the recorded
        outcome and publishes it (the same event, same eventId). Per payment: DONE,
        RETRY_LATER, or the exception that stopped it (its record is handed back)."""
        if not requests:
            return []
        results: list[Result | Exception] = [Result.DONE] * len(requests)
        entries = self._ledger.claim_all(requests, self._clock.now())
        to_publish = [(i, e.recorded) for i, e in enumerate(entries) if e.recorded is not None]
        undecided = [i for i, e in enumerate(entries) if e.recorded is None]
        futures = {
            i: executor.submit(self._decide_one, requests[i], entries[i], invocation_deadline)
            for i in undecided
        }
        decided: list[tuple[int, PaymentProcessed]] = []
        for i, future in futures.items():
            try:
                event = future.result()
            except Exception as exc:
                results[i] = exc
                continue
            if event is None:
                results[i] = Result.RETRY_LATER
            else:
                decided.append((i, event))
        try:
            recorded = self._ledger.record_outcomes([(entries[i], e) for i, e in decided])
        except TransientError as exc:
            for i, _e in decided:
                results[i] = exc
        else:
            to_publish += [(i, r) for (i, _e), r in zip(decided, recorded, strict=True)]
        errors = self._publish_all(to_publish, requests)
        for (i, _event), error in zip(to_publish, errors, strict=True):
            if error is not None:
                results[i] = error
        return results

    def _decide_one(
        self, request: PaymentRequested, entry: LedgerEntry, invocation_deadline: float
    ) -> PaymentProcessed | None:
        """The outcome's event, or None (its attempts recorded) if the bank has not decided
        and the budget is not spent."""
        attempts: list[BankAttempt] = []
        decided = self._decide(request, entry, invocation_deadline, attempts.append)
        if decided is None:
            self._ledger.record_attempts(entry, attempts)
            return None
        every = [*entry.bank_attempts, *attempts]
        return processed_event(request, decided, every, entry.claimed_at, self._clock.now())

    def _decide(
        self,
        request: PaymentRequested,
        entry: LedgerEntry,
        invocation_deadline: float,
        on_attempt: Callable[[BankAttempt], None],
    ) -> Outcome | None:
        tx = request.transaction_id
        try:
            number = self._vault.reveal(request.card.token, tx)
        except SealedBoxError:
            log.error("card token does not open", extra={"transactionId": tx})
            return Outcome(PaymentStatus.FAILED, failure_reason="invalid_card_token")
        budget_left = self._policy.retry_budget_s - _age_s(entry.claimed_at, self._clock.now())
        budget_deadline = time.monotonic() + max(0.0, budget_left)
        deadline = min(budget_deadline, invocation_deadline)
        auth = AuthorizationRequest(
            transaction_id=tx,
            merchant_id=request.merchant_id,
            amount_minor=request.amount_minor,
            currency=request.currency,
            card_number=number,
            exp_month=request.card.exp_month,
            exp_year=request.card.exp_year,
            reference=request.reference,
        )
        try:
            decision = self._bank.authorize(auth, deadline, on_attempt)
        except BankUnavailableError:
            if budget_deadline > invocation_deadline and time.monotonic() < budget_deadline:
                return None  # the invocation ends before the budget does: try again later
            # Never `failed` while the bank may have approved: ask what it decided first, even
            # when the breaker refused the last attempt (an earlier one may have timed out).
            late = self._bank.inquire(tx, self._policy.inquiry_wait_s)
            if late is None:
                return Outcome(PaymentStatus.FAILED, failure_reason="bank_unavailable")
            on_attempt(
                BankAttempt(
                    self._clock.now(), 0.0, "approved" if late.approved else "declined", "inquiry"
                )
            )
            decision = late
        except PermanentError as exc:
            log.warning("bank refused the request", extra={"transactionId": tx, "reason": str(exc)})
            return Outcome(PaymentStatus.FAILED, failure_reason="bank_rejected")
        if decision.approved:
            return Outcome(PaymentStatus.SUCCEEDED, bank_reference=decision.authorization_id)
        return Outcome(
            PaymentStatus.DECLINED,
            decline_code=decision.decline_code or "card_declined",
            bank_reference=decision.authorization_id,
        )

    def _publish_all(
        self,
        events: Sequence[tuple[int, PaymentProcessed]],
        requests: Sequence[PaymentRequested],
    ) -> list[TransientError | None]:
        topic = self._policy.processed_topic
        errors = self._publisher.publish_all(
            [
                OutgoingMessage(
                    topic, e.transaction_id, e.to_json(), e.headers(requests[i].event_id)
                )
                for i, e in events
            ]
        )
        for (_i, e), error in zip(events, errors, strict=True):
            if error is None:
                log.info(
                    "payment processed",
                    extra={"transactionId": e.transaction_id, "status": e.status},
                )
        return errors


def processed_event(
    request: PaymentRequested,
    outcome: Outcome,
    attempts: Sequence[BankAttempt],
    claimed_at: datetime,
    processed_at: datetime,
) -> PaymentProcessed:
    """The PaymentProcessed of this outcome; its eventId is derived from the transaction id."""
    tx = request.transaction_id
    return PaymentProcessed(
        event_id=str(uuid.uuid5(_PROCESSED_NS, tx)),
        occurred_at=processed_at,
        transaction_id=tx,
        merchant_id=request.merchant_id,
        status=outcome.status.value,
        amount_minor=request.amount_minor,
        currency=request.currency,
        reference=request.reference,
        description=request.description,
        metadata=request.metadata,
        webhook_url=request.webhook_url,
        card=CardSummary.model_validate(request.card.model_dump(exclude={"token"})),
        decline_code=outcome.decline_code,
        failure_reason=outcome.failure_reason,
        bank_reference=outcome.bank_reference,
        attempts=len(attempts),
        created_at=request.occurred_at,
        processed_at=processed_at,
        claimed_at=claimed_at,
        bank_attempts=attempt_entries(attempts),
    )


def _age_s(since: datetime, now: datetime) -> float:
    return (now - since).total_seconds()
