"""Ports: what the services need from the outside world, as Protocols. Adapters implement them
(common/adapters/), fakes implement them for unit tests (tests/fakes.py), and the same contract
tests run against both (tests/contract/)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from common.domain.payment import PaymentRecord


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    name: str


class MerchantDirectory(Protocol):
    def authenticate(self, api_key: str) -> Merchant | None:
        """The merchant owning this raw API key, or None. Raises TransientError if unreachable."""
        ...


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    location: str | None = None


@dataclass(frozen=True)
class IdempotencyBegun:
    """This request holds the key now; complete() or abandon() it."""


@dataclass(frozen=True)
class IdempotencyReplay:
    response: StoredResponse


@dataclass(frozen=True)
class IdempotencyInFlight:
    pass


@dataclass(frozen=True)
class IdempotencyMismatch:
    pass


IdempotencyOutcome = (
    IdempotencyBegun | IdempotencyReplay | IdempotencyInFlight | IdempotencyMismatch
)


class IdempotencyStore(Protocol):
    def begin(self, merchant_id: str, key: str, request_hash: str) -> IdempotencyOutcome: ...

    def complete(
        self, merchant_id: str, key: str, request_hash: str, response: StoredResponse
    ) -> None: ...

    def abandon(self, merchant_id: str, key: str) -> None: ...


class EventPublisher(Protocol):
    def publish(
        self, topic: str, key: str, value: bytes, headers: Sequence[tuple[str, bytes]]
    ) -> None:
        """Return once the broker acknowledged (acks=all); TransientError otherwise."""
        ...


class PendingPayments(Protocol):
    """Accepted payments not yet picked up by processing (the read side's first page)."""

    def put(self, record: PaymentRecord) -> None: ...

    def get(self, transaction_id: str) -> PaymentRecord | None: ...

    def discard(self, transaction_id: str) -> None:
        """Best effort: forget a record whose payment was not accepted after all."""
        ...


class PaymentReader(Protocol):
    """Payments as the process and notify stages recorded them (MongoDB)."""

    def get(self, transaction_id: str) -> PaymentRecord | None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
