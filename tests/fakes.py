"""In-memory fakes of the ports, for unit tests of pure logic.

Each one is kept honest by tests/contract/, which runs the same tests against it and the real
adapter (on real Redis).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pybreaker

from common.dead_letters import DeadLetter
from common.domain.errors import BankUnavailableError, PublishInDoubtError, TransientError
from common.domain.events import PaymentProcessed, PaymentRequested
from common.domain.payment import PaymentRecord
from common.domain.ports import (
    AuthorizationRequest,
    BankAttempt,
    BankDecision,
    IdempotencyBegun,
    IdempotencyInFlight,
    IdempotencyMismatch,
    IdempotencyOutcome,
    IdempotencyReplay,
    LedgerEntry,
    Merchant,
    OutgoingMessage,
    PendingReversal,
    StoredResponse,
)
from common.domain.webhooks import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DueAttempt,
    due_order,
    fair_run,
)


class FakeMerchantDirectory:
    def __init__(self) -> None:
        self.by_hash: dict[str, Merchant] = {}

    def add(self, api_key: str, merchant: Merchant) -> None:
        self.by_hash[hashlib.sha256(api_key.encode()).hexdigest()] = merchant

    def authenticate(self, api_key: str) -> Merchant | None:
        return self.by_hash.get(hashlib.sha256(api_key.encode()).hexdigest())

    def remembered(self, api_key: str) -> tuple[bool, Merchant | None]:
        return True, self.authenticate(api_key)


class FakeIntakeRecords:
    """RedisIntakeRecords in memory (IntakeRecords and, for the read side, PendingPayments)."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], tuple[str, StoredResponse | None]] = {}
        self.records: dict[str, PaymentRecord] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise TransientError("redis", "ConnectionError")

    async def begin(
        self, merchant_id: str, key: str | None, request_hash: str, pending: PaymentRecord
    ) -> IdempotencyOutcome:
        self._check()
        if key is not None:
            held = self._held(merchant_id, key, request_hash)
            if held is not None:
                return held
            self.keys[(merchant_id, key)] = (request_hash, None)
        self.records[pending.transaction_id] = pending
        return IdempotencyBegun()

    async def peek(
        self, merchant_id: str, key: str, request_hash: str
    ) -> IdempotencyOutcome | None:
        self._check()
        return self._held(merchant_id, key, request_hash)

    def _held(self, merchant_id: str, key: str, request_hash: str) -> IdempotencyOutcome | None:
        existing = self.keys.get((merchant_id, key))
        if existing is None:
            return None
        stored_hash, response = existing
        if stored_hash != request_hash:
            return IdempotencyMismatch()
        if response is None:
            return IdempotencyInFlight()
        return IdempotencyReplay(response)

    async def complete(
        self, merchant_id: str, key: str, request_hash: str, response: StoredResponse
    ) -> None:
        self._check()
        self.keys[(merchant_id, key)] = (request_hash, response)

    async def abandon(self, merchant_id: str, key: str | None, transaction_id: str) -> None:
        self._check()
        if key is not None:
            self.keys.pop((merchant_id, key), None)
        self.records.pop(transaction_id, None)

    def get(self, transaction_id: str) -> PaymentRecord | None:
        return self.records.get(transaction_id)


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
    in_doubt: bool = False
    """publish_async: no acknowledgment in time; the broker kept the message all the same."""

    async def publish_async(
        self,
        topic: str,
        key: str | bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]],
    ) -> None:
        self.publish(topic, key, value, headers)
        if self.in_doubt:
            raise PublishInDoubtError("kafka", "no acknowledgement in time")

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

    def publish_all(self, messages: Sequence[OutgoingMessage]) -> list[TransientError | None]:
        out: list[TransientError | None] = []
        for m in messages:
            try:
                self.publish(m.topic, m.key, m.value, m.headers)
                out.append(None)
            except TransientError as exc:
                out.append(exc)
        return out


@dataclass
class FixedClock:
    at: datetime = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


class FakeWebhookDeliveries:
    """MongoWebhookDeliveries in memory: the same facts under the same ids (contract-tested
    beside it in tests/contract/test_intake_ports.py)."""

    def __init__(self) -> None:
        self.events: dict[str, Delivery] = {}
        self.resends: dict[str, datetime] = {}
        self.leases: dict[str, datetime] = {}
        self.attempts: dict[str, tuple[DeliveryAttempt, DeliveryStatus, datetime | None]] = {}
        self.entries: dict[str, DueAttempt] = {}

    def create_all(self, deliveries: Sequence[Delivery]) -> list[bool]:
        return [self._create(d) for d in deliveries]

    def _create(self, delivery: Delivery) -> bool:
        if delivery.webhook_id in self.events:
            return False
        self.events[delivery.webhook_id] = replace(
            delivery, attempts=(), status=DeliveryStatus.SCHEDULED, round=0
        )
        return True

    def record_all(self, deliveries: Sequence[Delivery], *, indexed: bool) -> list[bool]:
        return [self._record(d, indexed=indexed) for d in deliveries]

    def _record(self, delivery: Delivery, *, indexed: bool) -> bool:
        key = f"{delivery.webhook_id}#{delivery.round}#{len(delivery.attempts)}"
        if key in self.attempts:
            return False
        self.attempts[key] = (delivery.attempts[-1], delivery.status, delivery.next_attempt_at)
        if indexed or delivery.status is DeliveryStatus.SCHEDULED:
            self.reproject(delivery)
        return True

    def reschedule(self, webhook_id: str, now: datetime) -> Delivery | None:
        current = self.get(webhook_id)
        if current is None:
            return None
        k = current.round + 1
        self.resends.setdefault(f"{webhook_id}#{k}", now)
        entry = DueAttempt(webhook_id, k, 1, now, merchant_id=current.merchant_id)
        self.entries.setdefault(f"{webhook_id}#{k}", entry)
        return self.get(webhook_id)

    def schedule(self, delivery: Delivery, at: datetime) -> None:
        self.entries.setdefault(f"{delivery.webhook_id}#{delivery.round}", delivery.next_due(at))

    def due(self, now: datetime, limit: int, *, per_merchant: int) -> list[DueAttempt]:
        due = sorted((e for e in self.entries.values() if e.due_at <= now), key=due_order)
        return fair_run(due, limit, per_merchant)

    def lease(
        self, entries: Sequence[DueAttempt], now: datetime, lease_s: float
    ) -> list[DueAttempt]:
        won = []
        for e in entries:
            lease_id = f"{e.webhook_id}#{e.round}#{e.attempt}@{e.due_at.isoformat()}"
            due_id = f"{e.webhook_id}#{e.round}"
            held = self.leases.get(lease_id)
            if held is None:
                self.leases[lease_id] = now
                if due_id in self.entries:
                    self.entries[due_id] = replace(e, due_at=now + timedelta(seconds=lease_s))
                won.append(e)
            elif held + timedelta(seconds=lease_s) <= now and due_id in self.entries:
                self.entries[due_id] = replace(e, due_at=now)
        return won

    def reproject(self, delivery: Delivery) -> None:
        due_id = f"{delivery.webhook_id}#{delivery.round}"
        entry = delivery.pending_entry()
        if entry is not None:
            self.entries[due_id] = entry
        else:
            self.entries.pop(due_id, None)

    def drop(self, entry: DueAttempt) -> None:
        self.entries.pop(f"{entry.webhook_id}#{entry.round}", None)

    def get(self, webhook_id: str) -> Delivery | None:
        event = self.events.get(webhook_id)
        if event is None:
            return None
        round_ = 0
        while f"{webhook_id}#{round_ + 1}" in self.resends:
            round_ += 1
        recorded = []
        while (a := self.attempts.get(f"{webhook_id}#{round_}#{len(recorded) + 1}")) is not None:
            recorded.append(a)
        started = self.resends[f"{webhook_id}#{round_}"] if round_ else event.created_at
        status, next_at = DeliveryStatus.SCHEDULED, started
        if recorded:
            status, next_at = recorded[-1][1], recorded[-1][2]
        return replace(
            event,
            status=status,
            next_attempt_at=next_at,
            attempts=tuple(a for a, _s, _n in recorded),
            round=round_,
        )


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


@dataclass(frozen=True)
class ClaimSlot:
    void: bool
    event_id: str
    at: datetime


class FakePaymentLedger:
    """MongoPaymentLedger and MongoPublishFence in memory: first insert wins for claims, void
    markers and outcomes (contract-tested beside them in tests/contract/test_process_ports.py)."""

    def __init__(self) -> None:
        self.slots: dict[str, list[ClaimSlot]] = {}
        self.attempt_records: dict[str, list[tuple[BankAttempt, ...]]] = {}
        self.outcomes: dict[str, PaymentProcessed] = {}
        self.reversals: dict[str, datetime] = {}
        self.reversal_acks: dict[str, datetime] = {}
        self.reversals_due: dict[str, tuple[datetime, PendingReversal]] = {}

    @property
    def claims(self) -> dict[str, datetime]:
        """The claimed payments and when they were first claimed."""
        return {
            tx: claim.at
            for tx, slots in self.slots.items()
            for claim in slots[-1:]
            if not claim.void
        }

    def _take(self, tx: str, wanted: ClaimSlot) -> ClaimSlot | None:
        """Insert `wanted` into the first slot not voided for another publish (None), or what
        holds that slot."""
        slots = self.slots.setdefault(tx, [])
        for held in slots:
            if not (held.void and held.event_id != wanted.event_id):
                return held
        slots.append(wanted)
        return None

    def void(self, transaction_id: str, event_id: str, at: datetime) -> bool:
        held = self._take(transaction_id, ClaimSlot(True, event_id, at))
        return held is None or held.void

    def claim_all(self, requests: Sequence[PaymentRequested], now: datetime) -> list[LedgerEntry]:
        return [self._claim(r, now) for r in requests]

    def _claim(self, request: PaymentRequested, now: datetime) -> LedgerEntry:
        tx = request.transaction_id
        held = self._take(tx, ClaimSlot(False, request.event_id, now))
        if held is None:
            return LedgerEntry(tx, now)
        if held.void:
            return LedgerEntry(tx, held.at, voided=True)
        if tx in self.outcomes:
            return LedgerEntry(tx, held.at, recorded=self.outcomes[tx])
        records = self.attempt_records.get(tx, [])
        attempts = tuple(a for r in records for a in r)
        return LedgerEntry(tx, held.at, attempts, len(records))

    def record_attempts(self, entry: LedgerEntry, attempts: Sequence[BankAttempt]) -> None:
        if attempts:
            self.attempt_records.setdefault(entry.transaction_id, []).append(tuple(attempts))

    def record_outcomes(
        self, decided: Sequence[tuple[LedgerEntry, PaymentProcessed]]
    ) -> list[PaymentProcessed]:
        return [self.outcomes.setdefault(e.transaction_id, e) for _entry, e in decided]

    def request_reversals(
        self, reversals: Sequence[PendingReversal], due: datetime
    ) -> list[PendingReversal]:
        fresh = []
        for r in reversals:
            if r.transaction_id not in self.reversals:
                self.reversals[r.transaction_id] = r.requested_at
                pending = PendingReversal(r.transaction_id, r.requested_at)
                self.reversals_due[r.transaction_id] = (due, pending)
                fresh.append(r)
        return fresh

    def acknowledge_reversals(self, transaction_ids: Sequence[str], at: datetime) -> None:
        for tx in transaction_ids:
            self.reversal_acks.setdefault(tx, at)
            self.reversals_due.pop(tx, None)

    def due_reversals(self, now: datetime, limit: int) -> list[PendingReversal]:
        due = sorted((x for x in self.reversals_due.values() if x[0] <= now), key=lambda x: x[0])
        return [r for _d, r in due[:limit]]

    def postpone_reversals(self, reversals: Sequence[PendingReversal], due: datetime) -> None:
        for r in reversals:
            if r.transaction_id in self.reversals_due:
                self.reversals_due[r.transaction_id] = (due, replace(r, tries=r.tries + 1))

    def pending_reversals(self) -> int:
        return len(self.reversals_due)


class FakeBank:
    """ResilientBank over the bank simulator, in memory: DESIGN.md §5's declining cards, an
    idempotency key's first decision replayed, and an outage switch (contract-tested beside
    the real one in tests/contract/test_process_ports.py)."""

    DECLINES: ClassVar[dict[str, str]] = {
        "4000000000000002": "card_declined",
        "4000000000009995": "insufficient_funds",
        "4000000000000069": "expired_card",
    }

    def __init__(self) -> None:
        self.down = False
        self.silent = False
        """Calls time out: the bank may have authorized them (a reversal is owed)."""
        self.decisions: dict[str, BankDecision] = {}
        self.calls: dict[str, int] = {}
        self.reversed: set[str] = set()

    def authorize(
        self,
        request: AuthorizationRequest,
        deadline: float,
        on_attempt: Callable[[BankAttempt], None],
    ) -> BankDecision:
        tx = request.transaction_id
        self.calls[tx] = self.calls.get(tx, 0) + 1
        if self.down or self.silent:
            detail = "timeout" if self.silent else "HTTP 503"
            on_attempt(BankAttempt(datetime.now(UTC), 0.0, "unavailable", detail))
            raise BankUnavailableError(1, breaker_open=False)
        if tx not in self.decisions:
            code = self.DECLINES.get(request.card_number)
            self.decisions[tx] = BankDecision(code is None, code, f"auth_{len(self.decisions)}")
        decision = replace(self.decisions[tx], reversed=tx in self.reversed)
        result = "approved" if decision.approved else "declined"
        on_attempt(BankAttempt(datetime.now(UTC), 0.0, result, decision.decline_code))
        return decision

    def inquire(self, transaction_id: str, wait_s: float) -> BankDecision | None:
        if self.down or transaction_id not in self.decisions:
            return None
        return replace(self.decisions[transaction_id], reversed=transaction_id in self.reversed)

    def reverse(self, transaction_id: str) -> bool:
        if self.down:
            return False
        self.reversed.add(transaction_id)
        return True


class FakeBreakerStorage(pybreaker.CircuitMemoryStorage):
    """SharedBreakerStorage in memory (one process): the window of call results, the move to
    half-open and its probes (contract-tested beside it in
    tests/integration/test_breaker_storage.py)."""

    def __init__(self, sampling_s: int = 30, wall: Callable[[], float] = time.time) -> None:
        super().__init__(pybreaker.STATE_CLOSED)
        self._sampling_s = sampling_s
        self._wall = wall
        self._calls: list[tuple[int, bool]] = []
        self._since = 0
        self._probes = 0
        self.window: tuple[int, int] = (0, 0)

    def _now(self) -> int:
        return int(self._wall())

    def _count(self) -> tuple[int, int]:
        start = max(self._now() - self._sampling_s + 1, self._since)
        kept = [failed for at, failed in self._calls if at >= start]
        self.window = (len(kept), sum(kept))
        return self.window

    def increment_counter(self) -> None:
        self._calls.append((self._now(), True))
        self._count()

    def reset_counter(self) -> None:
        self._calls.append((self._now(), False))
        self._count()

    def clear_window(self) -> None:
        self._since = self._now()
        self._calls = [(at, f) for at, f in self._calls if at != self._since]
        self.window = (0, 0)

    def read_window(self) -> tuple[int, int]:
        return self._count()

    @property
    def counter(self) -> int:
        return self._count()[1]

    def begin_half_open(self, break_s: float) -> str:
        if self.state != pybreaker.STATE_OPEN:
            return self.state
        opened = self.opened_at
        if opened is not None and int(self._wall()) < int(opened.timestamp()) + break_s:
            return pybreaker.STATE_OPEN
        self.state, self._probes = pybreaker.STATE_HALF_OPEN, 0
        return self.state

    def take_probe(self, probes: int) -> bool:
        if self.state != pybreaker.STATE_HALF_OPEN:
            return False
        self._probes += 1
        return self._probes <= probes


class FakeDeadLetterQueue:
    """KafkaDeadLetterQueue in memory: topics of records, and the committed positions."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], list[DeadLetter]] = {}
        self.positions: dict[tuple[str, int], int] = {}

    def add(self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        log = self.records.setdefault((topic, 0), [])
        log.append(DeadLetter(topic, 0, len(log), key, value, tuple(headers)))

    def pending(self, limit: int) -> list[DeadLetter]:
        out: list[DeadLetter] = []
        for tp in sorted(self.records):
            out += self.records[tp][self.positions.get(tp, 0) :]
        return out[:limit]

    def settle(self, positions: Mapping[tuple[str, int], int]) -> None:
        self.positions.update(positions)
