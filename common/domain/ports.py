"""Ports: what the services need from the outside world, as Protocols. Adapters implement them
(common/adapters/), fakes implement them for unit tests (tests/fakes.py), and the same contract
tests run against both (tests/contract/)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from common.domain.errors import TransientError
from common.domain.events import PaymentProcessed, PaymentRequested
from common.domain.payment import AttemptEntry, PaymentRecord, PaymentStatus


@dataclass(frozen=True)
class Merchant:
    merchant_id: str
    name: str


class MerchantDirectory(Protocol):
    def authenticate(self, api_key: str) -> Merchant | None:
        """The merchant owning this raw API key, or None. Raises TransientError if unreachable."""
        ...

    def remembered(self, api_key: str) -> tuple[bool, Merchant | None]:
        """(True, what `authenticate` would answer) when that is known without I/O."""
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


class IntakeRecords(Protocol):
    """Intake's records in the cache (Redis): the Idempotency-Key claims with the responses to
    replay, and the accepted payments processing has not recorded yet. Asynchronous: intake's
    hot path runs on the event loop."""

    async def begin(
        self, merchant_id: str, key: str | None, request_hash: str, pending: PaymentRecord
    ) -> IdempotencyOutcome:
        """In one round trip: take the key (when there is one) and, if taken, store the
        pending payment. Begun: this request holds the key; complete() or abandon() it."""
        ...

    async def peek(
        self, merchant_id: str, key: str, request_hash: str
    ) -> IdempotencyOutcome | None:
        """What the key holds for this request, without taking it; None when it is free."""
        ...

    async def complete(
        self, merchant_id: str, key: str, request_hash: str, response: StoredResponse
    ) -> None: ...

    async def abandon(self, merchant_id: str, key: str | None, transaction_id: str) -> None:
        """Free the key and forget the pending payment: nothing was accepted."""
        ...


class PublishFence(Protocol):
    """Settles a publish in doubt against the ledger processing claims payments in."""

    def void(self, transaction_id: str, event_id: str, at: datetime) -> bool:
        """Insert a void marker for this publish of the payment: True if it won (processing
        will never charge what that publish carried), False if processing had claimed the
        payment first (it is durable and will be processed)."""
        ...


@dataclass(frozen=True)
class OutgoingMessage:
    topic: str
    key: str | bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]


class AsyncEventPublisher(Protocol):
    async def publish_async(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        """Return once the broker acknowledged (acks=all). TransientError when nothing was
        sent; PublishInDoubtError when the broker may have kept it."""
        ...


class EventPublisher(Protocol):
    def publish(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        """Return once the broker acknowledged (acks=all); TransientError otherwise."""
        ...

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> list[TransientError | None]:
        """Send every message, then wait for all acknowledgments together; per message None
        (acknowledged) or why not."""
        ...


class PendingPayments(Protocol):
    """Accepted payments not yet recorded by processing (the read side's first page; intake
    writes them through IntakeRecords)."""

    def get(self, transaction_id: str) -> PaymentRecord | None: ...


class PaymentReader(Protocol):
    """Payments as the process and notify stages recorded them (MongoDB)."""

    def get(self, transaction_id: str) -> PaymentRecord | None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


# -- processing -------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationRequest:
    transaction_id: str
    merchant_id: str
    amount_minor: int
    currency: str
    card_number: str
    exp_month: int
    exp_year: int
    reference: str | None

    def __repr__(self) -> str:  # never print the card number, even in a traceback
        return f"AuthorizationRequest(transaction_id={self.transaction_id!r}, ...)"


@dataclass(frozen=True)
class BankDecision:
    approved: bool
    decline_code: str | None
    authorization_id: str
    reversed: bool = False
    """The gateway reversed this authorization since (a timeout reversal): no money moved,
    whatever `approved` says."""


class Bank(Protocol):
    def authorize(self, request: AuthorizationRequest, timeout_s: float) -> BankDecision:
        """The bank's decision. TransientError when it may answer later (timeout, connection,
        5xx, 429); PermanentError when it refused the request itself (other 4xx)."""
        ...

    def decision(self, transaction_id: str, timeout_s: float) -> BankDecision | None:
        """A status inquiry that never authorizes: the decision the bank already made for
        this idempotency key, or None (none yet, unknown key). TransientError if it cannot
        say. After a timed-out attempt the bank may have decided without us hearing it."""
        ...

    def reverse(self, transaction_id: str, timeout_s: float) -> None:
        """Void whatever this idempotency key authorized or is still authorizing; repeating
        it is harmless. Returns once the bank acknowledged; TransientError otherwise."""
        ...


class AuthorizingBank(Protocol):
    """The bank as processing uses it: retries within a deadline and the circuit breaker
    live behind this port (common/adapters/resilient_bank.py)."""

    def authorize(
        self,
        request: AuthorizationRequest,
        deadline: float,
        on_attempt: Callable[[BankAttempt], None],
    ) -> BankDecision:
        """The bank's decision before `deadline` (time.monotonic()); each attempt reported to
        `on_attempt`. BankUnavailableError when none came in time; PermanentError when the
        bank refused the request itself."""
        ...

    def inquire(self, transaction_id: str, wait_s: float) -> BankDecision | None:
        """What the bank decided for this idempotency key, asking for up to `wait_s` (an
        authorization still in flight may land); None if it says nothing. Never charges."""
        ...

    def reverse(self, transaction_id: str) -> bool:
        """Send the bank a reversal for this idempotency key: True once it acknowledged,
        False if it could not be reached (try again later)."""
        ...


@dataclass(frozen=True)
class BankAttempt:
    at: datetime
    latency_ms: float
    result: str
    """approved | declined | unavailable | rejected | breaker_open"""
    detail: str | None = None

    @property
    def in_doubt(self) -> bool:
        """The request may have reached the bank and been authorized without an answer
        reaching us (a timeout, a dropped connection, an unreadable answer): only a reversal
        makes sure no money moves. A 5xx answer or a refused call decided nothing."""
        return self.result == "unavailable" and not (
            self.detail is None or self.detail.startswith("HTTP ") or self.detail == "circuit open"
        )


def attempt_entries(attempts: Sequence[BankAttempt]) -> list[AttemptEntry]:
    """Bank attempts as the read side and PaymentProcessed show them."""
    return [
        AttemptEntry(at=a.at, latency_ms=a.latency_ms, result=a.result, detail=a.detail)
        for a in attempts
    ]


@dataclass(frozen=True)
class Outcome:
    status: PaymentStatus
    decline_code: str | None = None
    failure_reason: str | None = None
    bank_reference: str | None = None


@dataclass(frozen=True)
class LedgerEntry:
    """What the ledger holds of one payment when a decider claims it."""

    transaction_id: str
    claimed_at: datetime
    """When the first claim was inserted: the start of the payment's retry budget."""
    bank_attempts: tuple[BankAttempt, ...] = ()
    """Attempts recorded by earlier invocations that got no decision."""
    attempt_records: int = 0
    """How many such records there are (each invocation that decided nothing wrote one)."""
    recorded: PaymentProcessed | None = None
    """The outcome, as recorded: what is published, now and on every redelivery."""
    voided: bool = False
    """Intake voided the publish this request came from (it answered 503): never process it."""

    @property
    def attempts(self) -> int:
        return len(self.bank_attempts)


@dataclass(frozen=True)
class PendingReversal:
    """A reversal the bank has not acknowledged yet."""

    transaction_id: str
    requested_at: datetime
    tries: int = 0


class PaymentLedger(Protocol):
    """The append-only transaction log (DESIGN.md §8): every fact an insert against a
    deterministic `_id`, the first insert wins, nothing is updated."""

    def claim_all(self, requests: Sequence[PaymentRequested], now: datetime) -> list[LedgerEntry]:
        """Insert the claims of distinct payments together; for one claimed before, what is
        recorded of it. In the order of `requests`."""
        ...

    def record_attempts(self, entry: LedgerEntry, attempts: Sequence[BankAttempt]) -> None:
        """Record bank attempts that led to no decision yet."""
        ...

    def record_outcomes(
        self, decided: Sequence[tuple[LedgerEntry, PaymentProcessed]]
    ) -> list[PaymentProcessed]:
        """Insert the outcomes together (each event carries every attempt that led to it);
        where one was recorded already, that one stands. The recorded events, in order:
        the ones to publish."""
        ...

    def request_reversals(
        self, reversals: Sequence[PendingReversal], due: datetime
    ) -> list[PendingReversal]:
        """Record reversals to send (an immutable fact each, and a pending entry due at
        `due`); one recorded before stays as it was. The ones recorded now."""
        ...

    def acknowledge_reversals(self, transaction_ids: Sequence[str], at: datetime) -> None:
        """The bank confirmed these reversals: recorded, no longer pending."""
        ...

    def due_reversals(self, now: datetime, limit: int) -> list[PendingReversal]:
        """Pending reversals due by `now`, oldest due first."""
        ...

    def postpone_reversals(self, reversals: Sequence[PendingReversal], due: datetime) -> None:
        """Try these again at `due` (one more try counted)."""
        ...

    def pending_reversals(self) -> int:
        """How many reversals the bank has not acknowledged yet (the status page's count)."""
        ...


class WebhookDeliveries(Protocol):
    """What the read side and the resend endpoint need of the notify stage's deliveries."""

    def get(self, webhook_id: str) -> Any: ...

    def reschedule(self, webhook_id: str, now: datetime) -> Any: ...
