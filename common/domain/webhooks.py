"""Webhook events and the delivery schedule: pure logic, no I/O."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from common.domain.events import PaymentProcessed
from common.domain.payment_view import PaymentView

_WEBHOOK_IDS = uuid.UUID("2b8f7c1e-5d4a-4c3b-9e2f-1a0b9c8d7e6f")


def webhook_id(transaction_id: str) -> str:
    """One event id per payment, the same on every retry, redelivery and resend."""
    return f"evt_{uuid.uuid5(_WEBHOOK_IDS, transaction_id).hex}"


def webhook_body(event: PaymentProcessed) -> bytes:
    """`{"type", "timestamp", "data"}`; data is the payment as GET shows it, without the webhook
    block (the same mapper: common/domain/payment_view.py). Built once and stored, so every
    attempt signs the very same bytes. MoneyError if the event's amount cannot be a payment."""
    data = PaymentView.of(event.payment_record()).model_dump(mode="json", by_alias=True)
    body = {"type": f"payment.{event.status}", "timestamp": data["updatedAt"], "data": data}
    return json.dumps(body, separators=(",", ":")).encode()


class DeliveryStatus(StrEnum):
    SCHEDULED = "scheduled"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryAttempt:
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: float

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    transaction_id: str
    merchant_id: str
    url: str
    body: bytes
    status: DeliveryStatus
    next_attempt_at: datetime | None
    created_at: datetime
    attempts: tuple[DeliveryAttempt, ...] = field(default_factory=tuple)
    """The attempts of the current round (a resend starts a new round)."""
    round: int = 0
    """0 for the event's own delivery, k after the merchant's k-th resend."""

    def next_due(self, at: datetime) -> DueAttempt:
        """Its next attempt, as the due-index's entry due at `at`."""
        return DueAttempt(
            self.webhook_id, self.round, len(self.attempts) + 1, at, merchant_id=self.merchant_id
        )

    def pending_entry(self) -> DueAttempt | None:
        """The due-index entry its recorded attempts ask for; None once it is settled."""
        if self.status is DeliveryStatus.SCHEDULED and self.next_attempt_at:
            return self.next_due(self.next_attempt_at)
        return None


@dataclass(frozen=True)
class DueAttempt:
    """An entry of the retry schedule's due-index: attempt `attempt` of round `round` of a
    delivery is due at `due_at`. A projection of the recorded attempts, never a decision:
    sending it takes a lease (an insert) first."""

    webhook_id: str
    round: int
    attempt: int
    due_at: datetime
    merchant_id: str | None
    """Whose delivery it is: a scheduled run serves merchants in turn (fair_run). None in an
    entry written before the due-index carried it."""


def due_order(entry: DueAttempt) -> tuple[datetime, str, int]:
    """Oldest due first; ties in a stable order."""
    return entry.due_at, entry.webhook_id, entry.round


def fair_run(oldest_first: Iterable[DueAttempt], limit: int, per_merchant: int) -> list[DueAttempt]:
    """A scheduled run out of the due entries (read oldest first): at most `per_merchant` of
    any one merchant's, and merchants in turn, up to `limit`: the first entry of every
    merchant with something due, oldest first, then the second of each, and so on. Entries
    without a merchant (written before the due-index carried it) count as one merchant."""
    kept: dict[str | None, list[DueAttempt]] = {}
    for entry in oldest_first:
        mine = kept.setdefault(entry.merchant_id, [])
        if len(mine) < per_merchant:
            mine.append(entry)
    run: list[DueAttempt] = []
    for turn in itertools.zip_longest(*kept.values()):
        run.extend(sorted((e for e in turn if e is not None), key=due_order))
        if len(run) >= limit:
            break
    return run[:limit]


def new_delivery(event: PaymentProcessed, now: datetime) -> Delivery:
    """A payment's webhook delivery before any attempt, due now (MoneyError if the event's
    amount cannot be a payment's)."""
    return Delivery(
        webhook_id=webhook_id(event.transaction_id),
        transaction_id=event.transaction_id,
        merchant_id=event.merchant_id,
        url=event.webhook_url,
        body=webhook_body(event),
        status=DeliveryStatus.SCHEDULED,
        next_attempt_at=now,
        created_at=now,
    )


def after_attempt(
    delivery: Delivery, attempt: DeliveryAttempt, schedule: Sequence[float]
) -> Delivery:
    """The delivery once `attempt` is recorded: delivered, rescheduled, or failed for good.

    `schedule[i]` is the delay after the first attempt of attempt i+2 (Standard Webhooks:
    5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), so there are len(schedule)+1 attempts."""
    attempts = (*delivery.attempts, attempt)
    if attempt.succeeded:
        return _with(delivery, attempts, DeliveryStatus.DELIVERED, None)
    failures = sum(1 for a in attempts if not a.succeeded)
    if failures > len(schedule):
        return _with(delivery, attempts, DeliveryStatus.FAILED, None)
    first = attempts[0].at
    due = first + timedelta(seconds=schedule[failures - 1])
    return _with(delivery, attempts, DeliveryStatus.SCHEDULED, max(due, attempt.at))


def _with(
    d: Delivery,
    attempts: tuple[DeliveryAttempt, ...],
    status: DeliveryStatus,
    next_at: datetime | None,
) -> Delivery:
    return Delivery(
        d.webhook_id,
        d.transaction_id,
        d.merchant_id,
        d.url,
        d.body,
        status,
        next_at,
        d.created_at,
        attempts,
        d.round,
    )
