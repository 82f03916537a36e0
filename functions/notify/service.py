"""notify_merchant: one webhook event per payment, signed, with a durable retry schedule.

- The delivery is inserted against its webhook id (derived from the transaction id) before
  anything is sent, so a redelivered PaymentProcessed or a restarted worker never creates a
  second, independent delivery.
- Every attempt is recorded before the batch is acknowledged; a failed one schedules the next
  (Standard Webhooks' schedule, configurable); the scheduled run sends what is due.
- Exhausted → `failed`, and the delivery goes to the webhook dead-letter topic.
- The URL is checked against private/loopback/link-local targets again at delivery time: a
  name may resolve differently than it did at intake. A refusal is a failed attempt.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from common.domain.events import PaymentProcessed
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

    def save(self, delivery: Delivery) -> None: ...

    def due(self, now: datetime, limit: int) -> list[Delivery]: ...


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
        secret_of: Callable[[str], str | None],
        resolve: Resolver,
        publisher: EventPublisher,
        clock: Clock,
        policy: NotifyPolicy,
    ) -> None:
        self._deliveries = deliveries
        self._sender = sender
        self._secret_of = secret_of
        self._resolve = resolve
        self._publisher = publisher
        self._clock = clock
        self._policy = policy

    def accept(self, event: PaymentProcessed) -> Delivery | None:
        """The new delivery to send now, or None if this payment's webhook exists already."""
        now = self._clock.now()
        delivery = Delivery(
            webhook_id=webhook_id(event.transaction_id),
            transaction_id=event.transaction_id,
            merchant_id=event.merchant_id,
            url=event.webhook_url,
            body=webhook_body(event),
            status=DeliveryStatus.SCHEDULED,
            next_attempt_at=now + timedelta(seconds=self._policy.first_attempt_lease_s),
            created_at=now,
        )
        return delivery if self._deliveries.create(delivery) else None

    def deliver(self, delivery: Delivery) -> Delivery:
        attempt = self._attempt(delivery)
        updated = after_attempt(delivery, attempt, self._policy.schedule)
        self._deliveries.save(updated)
        if updated.status is DeliveryStatus.FAILED:
            self._dead_letter(updated)
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
        return self._deliveries.due(self._clock.now(), limit)

    def _attempt(self, delivery: Delivery) -> DeliveryAttempt:
        now = self._clock.now()
        try:
            check_webhook_url(delivery.url, self._resolve, self._policy.allow_private_urls)
        except WebhookUrlError as exc:
            return DeliveryAttempt(now, None, f"refused: {exc}", 0.0)
        secret = self._secret_of(delivery.merchant_id)
        if secret is None:
            return DeliveryAttempt(now, None, "merchant has no webhook secret", 0.0)
        headers = sign_webhook(secret, delivery.webhook_id, int(time.time()), delivery.body)
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
