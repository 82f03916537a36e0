"""In-memory fakes of the ports, for unit tests of pure logic.

Each one is kept honest by tests/contract/, which runs the same tests against it and the real
adapter (on real Redis).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from common.domain.errors import TransientError
from common.domain.payment import PaymentRecord
from common.domain.ports import (
    IdempotencyBegun,
    IdempotencyInFlight,
    IdempotencyMismatch,
    IdempotencyOutcome,
    IdempotencyReplay,
    Merchant,
    StoredResponse,
)
from common.domain.webhooks import Delivery, DeliveryStatus


class FakeMerchantDirectory:
    def __init__(self) -> None:
        self.by_hash: dict[str, Merchant] = {}

    def add(self, api_key: str, merchant: Merchant) -> None:
        self.by_hash[hashlib.sha256(api_key.encode()).hexdigest()] = merchant

    def authenticate(self, api_key: str) -> Merchant | None:
        return self.by_hash.get(hashlib.sha256(api_key.encode()).hexdigest())


class FakeIdempotencyStore:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], tuple[str, StoredResponse | None]] = {}

    def begin(self, merchant_id: str, key: str, request_hash: str) -> IdempotencyOutcome:
        existing = self.records.get((merchant_id, key))
        if existing is None:
            self.records[(merchant_id, key)] = (request_hash, None)
            return IdempotencyBegun()
        stored_hash, response = existing
        if stored_hash != request_hash:
            return IdempotencyMismatch()
        if response is None:
            return IdempotencyInFlight()
        return IdempotencyReplay(response)

    def complete(
        self, merchant_id: str, key: str, request_hash: str, response: StoredResponse
    ) -> None:
        self.records[(merchant_id, key)] = (request_hash, response)

    def abandon(self, merchant_id: str, key: str) -> None:
        self.records.pop((merchant_id, key), None)


class FakePendingPayments:
    def __init__(self) -> None:
        self.records: dict[str, PaymentRecord] = {}

    def put(self, record: PaymentRecord) -> None:
        self.records[record.transaction_id] = record

    def get(self, transaction_id: str) -> PaymentRecord | None:
        return self.records.get(transaction_id)

    def discard(self, transaction_id: str) -> None:
        self.records.pop(transaction_id, None)


class FakePaymentReader:
    def __init__(self) -> None:
        self.records: dict[str, PaymentRecord] = {}

    def get(self, transaction_id: str) -> PaymentRecord | None:
        return self.records.get(transaction_id)


@dataclass
class Published:
    topic: str
    key: str | bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class FakePublisher:
    sent: list[Published] = field(default_factory=list)
    attempted_keys: list[str | bytes | None] = field(default_factory=list)
    down: bool = False

    def publish(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        self.attempted_keys.append(key)
        if self.down:
            raise TransientError("kafka", "broker unreachable")
        self.sent.append(Published(topic, key, value, list(headers)))


@dataclass
class FixedClock:
    at: datetime = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


class FakeWebhookDeliveries:
    def __init__(self) -> None:
        self.rows: dict[str, Delivery] = {}

    def create(self, delivery: Delivery) -> bool:
        if delivery.webhook_id in self.rows:
            return False
        self.rows[delivery.webhook_id] = delivery
        return True

    def save(self, delivery: Delivery) -> None:
        self.rows[delivery.webhook_id] = delivery

    def claim(self, delivery: Delivery, until: datetime) -> bool:
        found = self.rows.get(delivery.webhook_id)
        if (
            found is None
            or found.status is not DeliveryStatus.SCHEDULED
            or found.next_attempt_at != delivery.next_attempt_at
        ):
            return False
        self.rows[delivery.webhook_id] = replace(found, next_attempt_at=until)
        return True

    def get(self, webhook_id: str) -> Delivery | None:
        return self.rows.get(webhook_id)

    def due(self, now: datetime, limit: int) -> list[Delivery]:
        due = [
            d
            for d in self.rows.values()
            if d.status is DeliveryStatus.SCHEDULED
            and d.next_attempt_at is not None
            and d.next_attempt_at <= now
        ]
        return sorted(due, key=lambda d: d.next_attempt_at or now)[:limit]

    def reschedule(self, webhook_id: str, now: datetime) -> Delivery | None:
        found = self.rows.get(webhook_id)
        if found is None:
            return None
        self.rows[webhook_id] = replace(
            found, status=DeliveryStatus.SCHEDULED, next_attempt_at=now, attempts=()
        )
        return self.rows[webhook_id]


class FakeSlowEndpoints:
    """RedisSlowEndpoints in memory: a mark per merchant that expires after `mark_s`."""

    def __init__(self, mark_s: float = 60.0) -> None:
        self.mark_s = mark_s
        self.until: dict[str, float] = {}

    def slow_among(self, merchant_ids: Iterable[str]) -> set[str]:
        now = time.monotonic()
        return {m for m in merchant_ids if self.until.get(m, 0.0) > now}

    def mark_slow(self, merchant_id: str) -> None:
        self.until[merchant_id] = time.monotonic() + self.mark_s

    def clear(self, merchant_id: str) -> None:
        self.until.pop(merchant_id, None)
