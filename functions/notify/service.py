"""notify_merchant: one webhook event per payment, signed, with a durable retry schedule.

- The delivery is inserted against its webhook id (derived from the transaction id) before
  anything is sent, so a redelivered PaymentProcessed or a restarted worker never creates a
  second, independent delivery.
- Every attempt is recorded before the batch is acknowledged; a failed one schedules the next
  (Standard Webhooks' schedule, configurable); the scheduled run sends what is due.
- Exhausted → `failed`, and the delivery goes to the webhook dead-letter topic.
- The URL is checked against private/loopback/link-local targets again at delivery time: a
  name may resolve differently than it did at intake. A refusal is a failed attempt.
- A merchant whose endpoint hangs does not hold up the others: an attempt that times out
  marks the merchant slow (shared by every worker), and while the mark lasts its new
  deliveries skip the batch and go straight to the schedule, whose own run waits for them.
  The first retry that succeeds lifts the mark.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from common.domain.errors import PermanentError, TransientError
from common.domain.events import PaymentProcessed
from common.domain.money import MoneyError
from common.domain.ports import Clock, EventPublisher
from common.domain.webhook_url import Resolver, WebhookUrlError, check_webhook_url
from common.domain.webhooks import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    after_attempt,
    webhook_body,
    webhook_id,
)
from common.webhook_signing import sign_webhook

log = logging.getLogger("paygate.notify")


class DeliveryStore(Protocol):
    def create(self, delivery: Delivery) -> bool: ...

    def claim(self, delivery: Delivery, until: datetime) -> bool:
        """Push a due delivery's next attempt to `until` if nobody changed it meanwhile."""
        ...

    def save(self, delivery: Delivery) -> None: ...

    def due(self, now: datetime, limit: int) -> list[Delivery]: ...


class SlowEndpoints(Protocol):
    def slow_among(self, merchant_ids: Iterable[str]) -> set[str]: ...

    def mark_slow(self, merchant_id: str) -> None: ...

    def clear(self, merchant_id: str) -> None: ...


class Sender(Protocol):
    def send(self, url: str, body: bytes, headers: dict[str, str]) -> DeliveryAttempt: ...


@dataclass(frozen=True)
class NotifyPolicy:
    schedule: Sequence[float]
    allow_private_urls: bool
    dead_letter_topic: str
    first_attempt_lease_s: float = 30.0
    """A new delivery is due for the scheduled run only after this long: its first attempt
    belongs to the batch that created it, unless that one died before recording it."""


class NotifyService:
    def __init__(
        self,
        *,
        deliveries: DeliveryStore,
        sender: Sender,
        slow: SlowEndpoints,
        secret_of: Callable[[str], str | None],
        resolve: Resolver,
        publisher: EventPublisher,
        clock: Clock,
        policy: NotifyPolicy,
    ) -> None:
        self._deliveries = deliveries
        self._sender = sender
        self._slow = slow
        self._secret_of = secret_of
        self._resolve = resolve
        self._publisher = publisher
        self._clock = clock
        self._policy = policy

    def slow_merchants(self, merchant_ids: Iterable[str]) -> set[str]:
        """Which of these merchants' endpoints timed out lately (their webhooks wait for the
        schedule rather than hold a batch up)."""
        return self._slow.slow_among(merchant_ids)

    def accept(self, event: PaymentProcessed, *, send_now: bool = True) -> Delivery | None:
        """The new delivery to send now, or None if this payment's webhook exists already or
        (send_now False) is left to the schedule, due at once."""
        now = self._clock.now()
        try:
            body = webhook_body(event)
        except MoneyError as exc:  # schema-valid, yet not a payment we could have made
            raise PermanentError(f"PaymentProcessed unusable: {exc}") from None
        lease = timedelta(seconds=self._policy.first_attempt_lease_s if send_now else 0)
        delivery = Delivery(
            webhook_id=webhook_id(event.transaction_id),
            transaction_id=event.transaction_id,
            merchant_id=event.merchant_id,
            url=event.webhook_url,
            body=body,
            status=DeliveryStatus.SCHEDULED,
            next_attempt_at=now + lease,
            created_at=now,
        )
        created = self._deliveries.create(delivery)
        return delivery if created and send_now else None

    def deliver(self, delivery: Delivery, *, scheduled: bool = False) -> Delivery:
        attempt = self._attempt(delivery)
        updated = after_attempt(delivery, attempt, self._policy.schedule)
        if attempt.error == "timeout":
            self._slow.mark_slow(delivery.merchant_id)
        elif scheduled and updated.status is DeliveryStatus.DELIVERED:
            self._slow.clear(delivery.merchant_id)
        if updated.status is DeliveryStatus.FAILED:
            self._dead_letter(updated)  # first: if Kafka refuses, the delivery stays due
        self._deliveries.save(updated)
        log.info(
            "webhook attempt",
            extra={
                "webhookId": delivery.webhook_id,
                "transactionId": delivery.transaction_id,
                "statusCode": attempt.status_code,
                "error": attempt.error,
                "outcome": updated.status.value,
            },
        )
        return updated

    def due(self, limit: int = 100) -> list[Delivery]:
        """Deliveries due now, each claimed (pushed back by the lease) so that an overlapping
        run or the batch path does not send it at the same time."""
        now = self._clock.now()
        lease = timedelta(seconds=self._policy.first_attempt_lease_s)
        claimed = []
        for delivery in self._deliveries.due(now, limit):
            if self._deliveries.claim(delivery, now + lease):
                claimed.append(delivery)
        return claimed

    def deliver_due(self, executor: Executor, limit: int = 100) -> tuple[int, int]:
        """Send what is due; one failing delivery does not cancel the others."""
        futures = [executor.submit(self.deliver, d, scheduled=True) for d in self.due(limit)]
        delivered = 0
        for future in futures:
            try:
                delivered += future.result().status is DeliveryStatus.DELIVERED
            except Exception:
                log.exception("scheduled delivery failed")
        return len(futures), delivered

    def _attempt(self, delivery: Delivery) -> DeliveryAttempt:
        """One attempt, always recorded as one: whatever goes wrong is its error, so a
        delivery never stays due without a trace (and never blocks the ones behind it)."""
        now = self._clock.now()
        try:
            check_webhook_url(delivery.url, self._resolve, self._policy.allow_private_urls)
        except WebhookUrlError as exc:
            return DeliveryAttempt(now, None, f"refused: {exc}", 0.0)
        except TransientError as exc:
            return DeliveryAttempt(now, None, f"not attempted: {exc}", 0.0)
        try:
            secret = self._secret_of(delivery.merchant_id)
        except TransientError as exc:
            return DeliveryAttempt(now, None, f"not attempted: {exc}", 0.0)
        if secret is None:
            return DeliveryAttempt(now, None, "merchant has no webhook secret", 0.0)
        try:
            headers = sign_webhook(secret, delivery.webhook_id, int(time.time()), delivery.body)
        except Exception:  # a secret that is not whsec_<base64>
            return DeliveryAttempt(now, None, "merchant's webhook secret is unusable", 0.0)
        return self._sender.send(delivery.url, delivery.body, headers)

    def _dead_letter(self, delivery: Delivery) -> None:
        record = {
            "webhookId": delivery.webhook_id,
            "transactionId": delivery.transaction_id,
            "merchantId": delivery.merchant_id,
            "url": delivery.url,
            "attempts": [
                {"at": a.at.isoformat(), "statusCode": a.status_code, "error": a.error}
                for a in delivery.attempts
            ],
        }
        self._publisher.publish(
            self._policy.dead_letter_topic,
            delivery.transaction_id,
            json.dumps(record).encode(),
            [("dlq.condition", b"WebhookRetriesExhausted")],
        )
