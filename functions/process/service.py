"""process_payment: claim, authorize once, record, publish. Over ports only.

Exactly-once effect on at-least-once input (DESIGN.md §8):
- the claim is an insert against a unique `_id` (the transaction id);
- the bank is called with the transaction id as its idempotency key, so a repeat returns
  the first answer instead of charging again;
- the outcome is inserted against the transaction id before it is published, and what is
  published is what was recorded: a second decider's insert is refused and it publishes the
  first one's event; a redelivery of a decided payment republishes that same event and never
  asks the bank again;
- a payment the bank has not decided within one attempt leaves its batch for the retry topic
  (a delay topic: each record says when it is due), so a silent bank holds up no one else;
- a `failed` payment whose attempts may have been authorized unseen owes a reversal. Only the
  decider whose `failed` outcome was recorded sends it, after recording it as a fact and before
  publishing the failure: a decider that records `succeeded` first is never reversed, and a
  late approval of a recorded failure is voided. An unacknowledged reversal is sent again by
  the schedule until the bank confirms it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from common.domain.errors import BankUnavailableError, PermanentError, TransientError
from common.domain.events import PaymentProcessed, PaymentRequested
from common.domain.payment import PaymentStatus, ReversalEntry
from common.domain.ports import (
    AuthorizationRequest,
    AuthorizingBank,
    BankAttempt,
    BankDecision,
    Clock,
    EventPublisher,
    LedgerEntry,
    Outcome,
    OutgoingMessage,
    PaymentLedger,
    PendingReversal,
    attempt_entries,
)
from common.inline_executor import InlineExecutor
from common.security.card_vault import CardVault
from common.security.sealed_box import SealedBoxError

log = logging.getLogger("paygate.process")

_PROCESSED_NS = uuid.UUID("6f1d3c3e-1b7a-4f7e-9a0e-5c2d1e0b9a11")


class Result(Enum):
    DONE = "done"
    PARKED = "parked"
    """No decision within one attempt and budget left: the payment waits on the retry topic
    (its record there says when it is due); the record in hand is finished."""


RETRY_DUE_HEADER = "retryDueAt"
"""Header of a record on the retry topic: when it is due, in epoch milliseconds."""


@dataclass(frozen=True)
class ProcessPolicy:
    processed_topic: str
    retry_topic: str
    retry_budget_s: float
    """How long a payment may wait for a bank decision, from its claim, before `failed`."""
    attempt_timeout_s: float = 2.0
    """The time one pass gives one payment (BANK_TIMEOUT_MS): a payment the bank has not
    decided by then leaves its batch for the retry topic."""
    retry_delay_s: float = 1.0
    """How long a parked payment waits on the retry topic before its next pass."""
    inquiry_wait_s: float = 2.0
    """Once the budget is spent after a timeout: how long to keep asking the bank whether
    it decided anyway (about one attempt's timeout, the time an authorization in flight
    at the bank may still take)."""
    reversal_retry_s: float = 10.0
    """How long an unacknowledged reversal waits before it is sent again."""
    batch_patience_s: float | None = None
    """On the requests topic: how long a batch waits for its payments' bank answers before
    the undecided ones are parked while their calls are still in flight (each call keeps its
    own timeout; its answer is collected by the next pass through the idempotency key). A
    silent bank then holds a partition up for this long, not for a whole attempt."""


@dataclass(frozen=True)
class _Pass:
    """What one pass made of one payment."""

    event: PaymentProcessed | None = None
    park_until: datetime | None = None


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
        *,
        patient: bool = True,
    ) -> list[Result | Exception]:
        """A batch of distinct payments, each given one attempt's time at most:
        1. the claims (one insert_many);
        2. the bank, concurrently: a payment undecided after one attempt (or refused by an
           open breaker) with budget left is parked on the retry topic; its budget spent,
           it is `failed`, with a reversal owed if an attempt may have been authorized;
        3. the outcomes (one insert_many; where another decider's stands, that one is
           published); the reversals the recorded outcomes owe are recorded, then sent;
        4. every PaymentProcessed and every parked record at once.
        Not `patient` (the requests topic): the batch waits `batch_patience_s` at most for
        the bank; a payment still undecided is parked (its call goes on and its answer is
        collected by the next pass). A crash between recording and publishing is repaired
        by the redelivery, which finds the recorded outcome and publishes it (the same
        event, same eventId). Per payment: DONE, PARKED, or the exception that stopped it
        (its record is handed back)."""
        if not requests:
            return []
        results: list[Result | Exception] = [Result.DONE] * len(requests)
        entries = self._ledger.claim_all(requests, self._clock.now())
        for e in entries:
            if e.voided:  # intake answered 503 for this publish: it is no payment
                log.info("publish voided by intake", extra={"transactionId": e.transaction_id})
        to_publish = [(i, e.recorded) for i, e in enumerate(entries) if e.recorded is not None]
        undecided = [i for i, e in enumerate(entries) if e.recorded is None and not e.voided]
        futures = {
            i: executor.submit(self._pass_one, requests[i], entries[i], invocation_deadline)
            for i in undecided
        }
        decided: list[tuple[int, PaymentProcessed]] = []
        parked: list[tuple[int, datetime]] = []
        patience = None if patient else self._policy.batch_patience_s
        if patience is not None:
            wait(futures.values(), timeout=patience)
        for i, future in futures.items():
            if patience is not None and not future.done():
                future.cancel()  # not started: it never will; running: its call goes on
                due = self._clock.now() + timedelta(seconds=self._policy.retry_delay_s)
                parked.append((i, due))
                continue
            try:
                outcome = future.result()
            except Exception as exc:
                results[i] = exc
                continue
            if outcome.event is not None:
                decided.append((i, outcome.event))
            elif outcome.park_until is not None:
                parked.append((i, outcome.park_until))
        try:
            recorded = self._ledger.record_outcomes([(entries[i], e) for i, e in decided])
        except TransientError as exc:
            for i, _e in decided:
                results[i] = exc
        else:
            to_publish += [(i, r) for (i, _e), r in zip(decided, recorded, strict=True)]
        to_publish = self._reverse_owed(to_publish, results, executor)
        self._publish(to_publish, parked, requests, results)
        return results

    def _publish(
        self,
        to_publish: Sequence[tuple[int, PaymentProcessed]],
        parked: Sequence[tuple[int, datetime]],
        requests: Sequence[PaymentRequested],
        results: list[Result | Exception],
    ) -> None:
        """Every outcome and every parked payment in one flush; the results updated."""
        messages = [self._processed_message(e, requests[i]) for i, e in to_publish]
        messages += [self._parked_message(requests[i], due) for i, due in parked]
        errors = self._publisher.publish_all(messages)
        for (i, e), error in zip(to_publish, errors[: len(to_publish)], strict=True):
            if error is None:
                log.info(
                    "payment processed",
                    extra={"transactionId": e.transaction_id, "status": e.status},
                )
            else:
                results[i] = error
        for (i, due), error in zip(parked, errors[len(to_publish) :], strict=True):
            results[i] = Result.PARKED if error is None else error
            if error is None:
                log.info(
                    "payment parked on the retry topic",
                    extra={"transactionId": requests[i].transaction_id, "dueAt": due.isoformat()},
                )

    def _reverse_owed(
        self,
        to_publish: list[tuple[int, PaymentProcessed]],
        results: list[Result | Exception],
        executor: Executor,
    ) -> list[tuple[int, PaymentProcessed]]:
        """Record and send the reversals the recorded outcomes owe (a redelivered one too:
        a crash may have come between its outcome and its reversal). What is still to be
        published: an outcome whose reversal could not be recorded is handed back."""
        owed = {
            i: PendingReversal(e.transaction_id, e.reversal.requested_at)
            for i, e in to_publish
            if e.reversal is not None
        }
        if not owed:
            return to_publish
        due = self._clock.now() + timedelta(seconds=self._policy.reversal_retry_s)
        try:
            fresh = self._ledger.request_reversals(list(owed.values()), due)
        except TransientError as exc:
            for i in owed:
                results[i] = exc
            return [(i, e) for i, e in to_publish if i not in owed]
        # one recorded before (a republication) is acknowledged or the schedule's to resend
        self.send_reversals(fresh, executor)
        return to_publish

    def send_reversals(self, pending: Sequence[PendingReversal], executor: Executor) -> int:
        """Send each reversal to the bank (concurrently); record those it acknowledged and
        postpone the others. How many were acknowledged."""
        if not pending:
            return 0
        answers = list(executor.map(lambda r: self._bank.reverse(r.transaction_id), pending))
        now = self._clock.now()
        acked = [r.transaction_id for r, ok in zip(pending, answers, strict=True) if ok]
        later = [r for r, ok in zip(pending, answers, strict=True) if not ok]
        try:
            self._ledger.acknowledge_reversals(acked, now)
            if later:
                retry_at = now + timedelta(seconds=self._policy.reversal_retry_s)
                self._ledger.postpone_reversals(later, retry_at)
        except TransientError as exc:  # pending stays pending: sent again, harmlessly
            log.warning("reversal state not recorded", extra={"reason": str(exc)})
        for r in later:
            log.warning(
                "reversal not acknowledged, will be sent again",
                extra={"transactionId": r.transaction_id},
            )
        return len(acked)

    def reverse_due(self, executor: Executor, limit: int) -> tuple[int, int]:
        """The schedule's run: send the pending reversals that are due. (due, acknowledged)."""
        due = self._ledger.due_reversals(self._clock.now(), limit)
        return len(due), self.send_reversals(due, executor)

    def _pass_one(
        self, request: PaymentRequested, entry: LedgerEntry, invocation_deadline: float
    ) -> _Pass:
        """One pass: the outcome's event, or when to look again (its attempts recorded)."""
        attempts: list[BankAttempt] = []

        def every() -> list[BankAttempt]:
            return [*entry.bank_attempts, *attempts]

        decided = self._decide(request, entry, invocation_deadline, attempts.append, every)
        if isinstance(decided, datetime):
            self._ledger.record_attempts(entry, attempts)
            return _Pass(park_until=decided)
        now = self._clock.now()
        event = processed_event(request, decided, every(), entry.claimed_at, now)
        if decided.status is PaymentStatus.FAILED and any(a.in_doubt for a in every()):
            event = event.model_copy(update={"reversal": ReversalEntry(requested_at=now)})
        return _Pass(event=event)

    def _decide(
        self,
        request: PaymentRequested,
        entry: LedgerEntry,
        invocation_deadline: float,
        on_attempt: Callable[[BankAttempt], None],
        attempts: Callable[[], list[BankAttempt]],
    ) -> Outcome | datetime:
        """The outcome, or when to try again (budget left, no decision in this pass)."""
        tx = request.transaction_id
        try:
            number = self._vault.reveal(request.card.token, tx)
        except SealedBoxError:
            log.error("card token does not open", extra={"transactionId": tx})
            return Outcome(PaymentStatus.FAILED, failure_reason="invalid_card_token")
        now = self._clock.now()
        budget_left = self._policy.retry_budget_s - _age_s(entry.claimed_at, now)
        started = time.monotonic()
        budget_deadline = started + max(0.0, budget_left)
        deadline = min(
            budget_deadline, invocation_deadline, started + self._policy.attempt_timeout_s
        )
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
            left = budget_deadline - time.monotonic()
            if left > 0:  # budget left: wait on the retry topic, not in this batch
                wait = min(self._policy.retry_delay_s, left)
                return self._clock.now() + timedelta(seconds=wait)
            late = self._inquire(tx, attempts(), on_attempt)
            if late is None:
                return Outcome(PaymentStatus.FAILED, failure_reason="bank_unavailable")
            decision = late
        except PermanentError as exc:
            log.warning("bank refused the request", extra={"transactionId": tx, "reason": str(exc)})
            return Outcome(PaymentStatus.FAILED, failure_reason="bank_rejected")
        return outcome_of(decision)

    def _inquire(
        self,
        tx: str,
        attempts: Sequence[BankAttempt],
        on_attempt: Callable[[BankAttempt], None],
    ) -> BankDecision | None:
        """The budget is spent. Never `failed` while the bank may have approved: if an attempt
        is in doubt, ask what it decided (an authorization in flight may still land)."""
        if not any(a.in_doubt for a in attempts):
            return None
        late = self._bank.inquire(tx, self._policy.inquiry_wait_s)
        if late is not None:
            result = "approved" if late.approved else "declined"
            on_attempt(BankAttempt(self._clock.now(), 0.0, result, "inquiry"))
        return late

    def _processed_message(
        self, event: PaymentProcessed, request: PaymentRequested
    ) -> OutgoingMessage:
        return OutgoingMessage(
            self._policy.processed_topic,
            event.transaction_id,
            event.to_json(),
            event.headers(request.event_id),
        )

    def _parked_message(self, request: PaymentRequested, due: datetime) -> OutgoingMessage:
        """The payment as it was requested, on the retry topic, saying when it is due."""
        due_ms = str(int(due.timestamp() * 1000)).encode()
        return OutgoingMessage(
            self._policy.retry_topic,
            request.transaction_id,
            request.to_json(),
            [*request.headers(request.event_id), (RETRY_DUE_HEADER, due_ms)],
        )


def outcome_of(decision: BankDecision) -> Outcome:
    if decision.reversed:  # the gateway's own reversal got there first: no money moved
        return Outcome(PaymentStatus.FAILED, failure_reason="bank_unavailable")
    if decision.approved:
        return Outcome(PaymentStatus.SUCCEEDED, bank_reference=decision.authorization_id)
    return Outcome(
        PaymentStatus.DECLINED,
        decline_code=decision.decline_code or "card_declined",
        bank_reference=decision.authorization_id,
    )


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
        card=request.card.summary(),
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
