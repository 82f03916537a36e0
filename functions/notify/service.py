"""notify_merchant: one webhook event per payment, signed, with a durable retry schedule.

- The delivery is inserted against its webhook id (derived from the transaction id) before
  anything is sent, so a redelivered PaymentProcessed or a restarted worker never creates a
  second, independent delivery.
- Every attempt's result is an insert against "{webhookId}#{round}#{attempt}" before the
  batch is acknowledged; a failed one puts the next in the due-index (Standard Webhooks'
  schedule, configurable); the scheduled run leases what is due (an insert each: concurrent
  runs never send the same attempt) and sends it.
- A scheduled run is fair: at most `retries_per_merchant` attempts of one merchant, and
  merchants in turn (the oldest due of each, then the second of each, ...), so a merchant
  with thousands of retries piled up cannot fill every run and starve the others.
- Exhausted → `failed`, and the delivery goes to the webhook dead-letter topic.
- The URL is checked against private/loopback/link-local targets and the allowed ports
  again at delivery time: a name may resolve differently than it did at intake. A refusal is
  a failed attempt. The sender dials an address this check passed, never a fresh lookup of
  the name (DNS rebinding), with the URL's host as Host header and TLS server name, and one
  deadline (WEBHOOK_TIMEOUT_S) for the whole attempt.
- A merchant whose endpoint hangs does not hold up the others: an attempt that times out
  marks the merchant slow (shared by every worker), and while the mark lasts its new
  deliveries skip the batch and go straight to the schedule, whose own run waits for them.
  The first retry that succeeds lifts the mark.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence, Set
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from common.domain.errors import PermanentError, TransientError
from common.domain.events import PaymentProcessed
from common.domain.money import MoneyError
from common.domain.ports import Clock, EventPublisher
from common.domain.webhook_url import (
    WEBHOOK_PORTS,
    Resolver,
    WebhookUrlError,
    check_webhook_url,
)
from common.domain.webhooks import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueAttempt,
    after_attempt,
    new_delivery,
)
from common.inline_executor import InlineExecutor
from common.webhook_signing import sign_webhook

log = logging.getLogger("paygate.notify")


class DeliveryStore(Protocol):
    """The deliveries' ledger (common/adapters/mongo_webhook_deliveries.py)."""

    def create_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """Insert the deliveries together; False for one whose webhook id has one already."""
        ...

    def record_all(self, deliveries: Sequence[Delivery], *, indexed: bool) -> list[bool]:
        """Insert the results of their last attempts together and update the due-index;
        False (nothing changed) for one whose attempt another sender recorded first."""
        ...

    def schedule(self, delivery: Delivery, at: datetime) -> None:
        """Make its next attempt due at `at` unless its round is due already."""
        ...

    def due(self, now: datetime, limit: int, *, per_merchant: int) -> list[DueAttempt]:
        """Up to `limit` entries due by `now`: at most `per_merchant` of one merchant's, the
        merchants served in turn (the oldest due entry of each, oldest first, then the second
        of each, ...)."""
        ...

    def lease(
        self, entries: Sequence[DueAttempt], now: datetime, lease_s: float
    ) -> list[DueAttempt]:
        """The entries whose lease this caller won (one sender per attempt)."""
        ...

    def reproject(self, delivery: Delivery) -> None: ...

    def drop(self, entry: DueAttempt) -> None: ...

    def get(self, webhook_id: str) -> Delivery | None: ...


class SlowEndpoints(Protocol):
    def slow_among(self, merchant_ids: Iterable[str]) -> set[str]: ...

    def mark_slow(self, merchant_id: str) -> None: ...

    def clear(self, merchant_id: str) -> None: ...


class Sender(Protocol):
    def send(
        self, url: str, addresses: Sequence[str], body: bytes, headers: dict[str, str]
    ) -> DeliveryAttempt:
        """POST to `url`'s endpoint, dialing one of `addresses` (checked: never resolved
        again), within the attempt's one deadline."""
        ...


@dataclass(frozen=True)
class NotifyPolicy:
    schedule: Sequence[float]
    allow_private_urls: bool
    dead_letter_topic: str
    webhook_ports: frozenset[int] = WEBHOOK_PORTS
    """The ports a webhook URL may name unless private URLs are allowed."""
    first_attempt_lease_s: float = 30.0
    """A new delivery is due for the scheduled run only after this long: its first attempt
    belongs to the batch that created it, unless that one died before recording it."""
    retries_per_merchant: int = 10
    """A scheduled run sends at most this many of one merchant's due attempts."""


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
        """A batch of one (accept_all)."""
        (accepted,) = self.accept_all([event], slow=set() if send_now else {event.merchant_id})
        if isinstance(accepted, Exception):
            raise accepted
        return accepted

    def accept_all(
        self, events: Sequence[PaymentProcessed], *, slow: Set[str]
    ) -> list[Delivery | PermanentError | None]:
        """Create the deliveries of distinct payments together (one insert); per event, the
        new delivery to send now, None if its webhook exists already or its merchant is
        `slow` (left to the schedule, due at once), or why the event is unusable."""
        now = self._clock.now()
        out: list[Delivery | PermanentError | None] = []
        new: list[tuple[int, Delivery]] = []
        for event in events:
            try:
                delivery = new_delivery(event, now)
            except MoneyError as exc:  # schema-valid, yet not a payment we could have made
                out.append(PermanentError(f"PaymentProcessed unusable: {exc}"))
                continue
            new.append((len(out), delivery))
            out.append(None)
        created = self._deliveries.create_all([d for _i, d in new])
        for (i, delivery), first in zip(new, created, strict=True):
            send_now = delivery.merchant_id not in slow
            if first and send_now:
                out[i] = delivery
                continue
            # Left to the schedule, or a redelivery: the batch that created the delivery may
            # have died before its first attempt. The schedule leaves it to that batch for
            # the lease, and sends it only if no attempt of it is recorded by then.
            lease = self._policy.first_attempt_lease_s if send_now else 0.0
            self._deliveries.schedule(delivery, now + timedelta(seconds=lease))
        return out

    def deliver(self, delivery: Delivery, *, scheduled: bool = False) -> Delivery:
        """A batch of one (deliver_all)."""
        (updated,) = self.deliver_all([delivery], InlineExecutor(), scheduled=scheduled)
        if isinstance(updated, Exception):
            raise updated
        return updated

    def deliver_all(
        self, deliveries: Sequence[Delivery], executor: Executor, *, scheduled: bool = False
    ) -> list[Delivery | Exception]:
        """One attempt each, concurrently; then the exhausted ones dead-lettered and every
        result recorded together (one insert). Per delivery: what it became, or why its
        attempt was not recorded (it stays due)."""
        attempts = [executor.submit(self._attempt, d) for d in deliveries]
        out: list[Delivery | Exception] = []
        for delivery, future in zip(deliveries, attempts, strict=True):
            try:
                attempt = future.result()  # whatever goes wrong is the attempt's error
            except Exception as exc:
                out.append(exc)
                continue
            updated = after_attempt(delivery, attempt, self._policy.schedule)
            try:
                self._after(updated, attempt, scheduled=scheduled)
            except TransientError as exc:
                out.append(exc)
                continue
            out.append(updated)
        to_record = [d for d in out if isinstance(d, Delivery)]
        try:
            recorded = self._deliveries.record_all(to_record, indexed=scheduled)
        except TransientError as exc:
            return [exc if isinstance(d, Delivery) else d for d in out]
        for d, first in zip(to_record, recorded, strict=True):
            last = d.attempts[-1]
            log.info(
                "webhook attempt",
                extra={
                    "webhookId": d.webhook_id,
                    "transactionId": d.transaction_id,
                    "statusCode": last.status_code,
                    "error": last.error,
                    "outcome": d.status.value,
                    "recorded": first,
                },
            )
        return out

    def _after(self, updated: Delivery, attempt: DeliveryAttempt, *, scheduled: bool) -> None:
        """What an attempt's result asks for before it is recorded: the merchant's slow mark,
        and the dead letter of an exhausted delivery (first: if Kafka refuses, it stays due)."""
        if attempt.error == "timeout":
            self._slow.mark_slow(updated.merchant_id)
        elif scheduled and updated.status is DeliveryStatus.DELIVERED:
            self._slow.clear(updated.merchant_id)
        if updated.status is DeliveryStatus.FAILED:
            self._dead_letter(updated)

    def due(self, limit: int = 100) -> list[Delivery]:
        """Deliveries due now, chosen fairly (at most `retries_per_merchant` per merchant,
        merchants in turn, oldest due first), each leased (an insert) so that an overlapping
        run or the batch path does not send the same attempt; an entry of the due-index that
        lags behind the recorded attempts is rebuilt from them instead of being sent."""
        now = self._clock.now()
        entries = self._deliveries.due(now, limit, per_merchant=self._policy.retries_per_merchant)
        leased = self._deliveries.lease(entries, now, self._policy.first_attempt_lease_s)
        out = []
        for entry in leased:
            delivery = self._deliveries.get(entry.webhook_id)
            if delivery is None:
                continue
            if delivery.round != entry.round:
                self._deliveries.drop(entry)  # a resend started a newer round
            elif len(delivery.attempts) >= entry.attempt:
                self._deliveries.reproject(delivery)  # that attempt is recorded already
            elif delivery.status is DeliveryStatus.SCHEDULED:
                out.append(delivery)
        return out

    def deliver_due(self, executor: Executor, limit: int = 100) -> tuple[int, int]:
        """Send what is due (`due`: a fair share of each merchant's); one failing delivery
        does not cancel the others."""
        due = self.due(limit)
        results = self.deliver_all(due, executor, scheduled=True)
        for r in results:
            if isinstance(r, Exception):
                log.warning("scheduled delivery not recorded", extra={"reason": str(r)})
        delivered = sum(
            1 for r in results if isinstance(r, Delivery) and r.status is DeliveryStatus.DELIVERED
        )
        return len(due), delivered

    def _attempt(self, delivery: Delivery) -> DeliveryAttempt:
        """One attempt, always recorded as one: whatever goes wrong is its error, so a
        delivery never stays due without a trace (and never blocks the ones behind it)."""
        now = self._clock.now()
        try:
            addresses = check_webhook_url(
                delivery.url,
                self._resolve,
                self._policy.allow_private_urls,
                self._policy.webhook_ports,
            )
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
        return self._sender.send(delivery.url, addresses, delivery.body, headers)

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
