"""What each page shows, read with bounded reads and handed over as plain dataclasses.

Where the numbers come from, and what bounds each read:
- one payment: the ledger by `_id` (intake's PaymentLookup: claim, outcome, attempts, the
  reversal's acknowledgment; Redis while it is pending), its webhook by `_id`
  (MongoWebhookDeliveries.history), its merchant's name by `_id`;
- the newest payments: the last records of each partition of payments.requested and
  payments.processed (topic_window.py): at most (page + 1) * 50 + 1 of each partition for a
  page, payment_list.SEARCH_WINDOW for a search; then the ledger by `_id` for the rows shown;
- the charts: offsets by timestamp at 61 bucket edges per topic (kept once settled), and at
  most three sampled payments per bucket whose webhook is looked up by `_id` (kept once
  delivered or failed for good);
- the counts of the status page (harness/pipeline.py: estimated counts, no scan).
No query sorts or filters a ledger collection: on FerretDB 1.24 (SQLite) every such query reads
the whole collection, whatever index exists.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from confluent_kafka import KafkaException
from pymongo.database import Database

from common.adapters.merchant_registry import MERCHANTS
from common.adapters.mongo_inserts import find_by_id
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.domain.errors import PermanentError, TransientError
from common.domain.events import Event, PaymentProcessed, PaymentRequested, parse_event
from common.domain.money import MoneyError
from common.domain.payment import PaymentRecord
from common.domain.payment_view import PaymentView
from common.domain.webhooks import Delivery, DeliveryStatus, webhook_id
from common.system_clock import SystemClock
from harness import dlq
from harness.dashboard import payment_list, throughput
from harness.dashboard.payment_list import Query
from harness.dashboard.runtime import DashboardRuntime
from harness.dashboard.status import status_snapshot
from harness.dashboard.throughput import Charts
from harness.dashboard.timeline import Step, timeline
from harness.dashboard.topic_window import Position, TopicRecord, TopicWindow

RECENT_OUTCOMES = 50
"""The overview's outcome counts are those of the newest RECENT_OUTCOMES settled payments of
each partition of payments.processed."""
DEAD_LETTERS_SHOWN = 500

_SOURCE_ERRORS = (KafkaException, TransientError)
E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Overview:
    status: dict[str, Any]
    """The `/status.json` snapshot."""
    charts: Charts | None
    outcomes: dict[str, int]
    """Outcomes of the newest settled payments, by status."""
    outcomes_of: int
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentRow:
    view: PaymentView
    merchant_id: str
    merchant_name: str | None


@dataclass(frozen=True)
class PaymentsPage:
    query: Query
    rows: list[PaymentRow]
    has_next: bool
    searched: int
    """How many of the newest payments the query looked at."""
    error: str | None = None


@dataclass(frozen=True)
class PaymentDetail:
    view: PaymentView
    merchant_id: str
    merchant_name: str | None
    steps: list[Step]
    rounds: list[Delivery]
    """The webhook's rounds (its own delivery, then each resend); empty before the outcome."""


@dataclass(frozen=True)
class DeadLetterGroup:
    topic: str
    condition: str
    reason: str
    count: int


@dataclass(frozen=True)
class DeadLettersPage:
    groups: list[DeadLetterGroup]
    letters: list[dlq.Listed]
    """Newest first, at most DEAD_LETTERS_SHOWN."""
    total: int
    error: str | None = None


class MerchantNames:
    """Merchants' names by id (`_id` lookups, kept: a merchant's name never changes)."""

    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._merchants = db[MERCHANTS]
        self._known: dict[str, str | None] = {}

    def name(self, merchant_id: str) -> str | None:
        if merchant_id not in self._known:
            doc = find_by_id(self._merchants, merchant_id)
            self._known[merchant_id] = str(doc["name"]) if doc and "name" in doc else None
        return self._known[merchant_id]


class Throughput:
    """The charts' readings, keeping what cannot change: the offsets at a settled bucket edge,
    a sampled record, the latency of a webhook delivered (or failed for good)."""

    SETTLED_S = 30.0
    """A bucket edge this old has all its records (producers stamp them as they publish)."""
    RECHECK_S = 30.0
    """A sampled payment whose webhook is not delivered yet is looked up again this often."""

    def __init__(
        self,
        requested: TopicWindow,
        processed: TopicWindow,
        deliveries: MongoWebhookDeliveries,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._requested, self._processed, self._deliveries = requested, processed, deliveries
        self._monotonic = monotonic
        self._edges: dict[tuple[str, datetime], dict[int, int]] = {}
        self._samples: dict[Position, tuple[str, datetime] | None] = {}
        self._delivered: dict[str, tuple[datetime | None, bool, float]] = {}

    def charts(self, now: datetime) -> Charts:
        edges = throughput.bucket_edges(now)
        accepted = self._at_edges(self._requested, edges, now)
        settled = self._at_edges(self._processed, edges, now)
        positions = throughput.sample_positions(settled)
        self._read_samples([p for bucket in positions for p in bucket])
        medians, maxima = throughput.latency_series(
            [[self._latency(p) for p in bucket] for bucket in positions]
        )
        self._forget(edges[0], {p for bucket in positions for p in bucket})
        return Charts(
            edges,
            throughput.per_second(accepted),
            throughput.per_second(settled),
            medians,
            maxima,
        )

    def _at_edges(
        self, window: TopicWindow, edges: Sequence[datetime], now: datetime
    ) -> list[dict[int, int]]:
        ends = window.ends()
        out = []
        for edge in edges:
            known = self._edges.get((window.topic, edge))
            if known is None or set(known) != set(ends):
                known = window.offsets_at(edge, ends) if ends else {}
                if (now - edge).total_seconds() >= self.SETTLED_S:
                    self._edges[(window.topic, edge)] = known
            out.append(known)
        return out

    def _read_samples(self, positions: list[Position]) -> None:
        missing = [p for p in positions if p not in self._samples]
        if not missing:
            return
        found = self._processed.records_at(missing)
        for p in missing:
            self._samples[p] = _settled_sample(found.get(p))

    def _latency(self, position: Position) -> float | None:
        sample = self._samples.get(position)
        if sample is None:
            return None
        tx, submitted = sample
        return throughput.latency_ms(submitted, self._delivered_at(tx))

    def _delivered_at(self, tx: str) -> datetime | None:
        known = self._delivered.get(tx)
        if known is not None and (known[1] or self._monotonic() - known[2] < self.RECHECK_S):
            return known[0]
        rounds = self._deliveries.history(webhook_id(tx))
        first = rounds[0] if rounds else None
        at = next((a.at for a in first.attempts if a.succeeded), None) if first else None
        final = at is not None or (first is not None and first.status is DeliveryStatus.FAILED)
        self._delivered[tx] = (at, final, self._monotonic())
        return at

    def _forget(self, oldest: datetime, sampled: set[Position]) -> None:
        self._edges = {k: v for k, v in self._edges.items() if k[1] >= oldest}
        self._samples = {p: v for p, v in self._samples.items() if p in sampled}
        txs = {v[0] for v in self._samples.values() if v is not None}
        self._delivered = {tx: v for tx, v in self._delivered.items() if tx in txs}


def _settled_sample(record: TopicRecord | None) -> tuple[str, datetime] | None:
    event = _event(PaymentProcessed, record.value) if record else None
    return (event.transaction_id, event.created_at) if event else None


def _event(model: type[E], raw: bytes) -> E | None:
    try:
        return parse_event(model, raw)
    except PermanentError:
        return None


class DashboardData:
    def __init__(self, runtime: DashboardRuntime) -> None:
        self._rt = runtime
        self._names = MerchantNames(runtime.db)
        self._throughput = Throughput(runtime.requested, runtime.processed, runtime.deliveries)
        self._clock = SystemClock()

    # -- overview --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return status_snapshot(self._rt.infra)

    def overview(self, status: dict[str, Any]) -> Overview:
        errors: dict[str, str] = {}
        charts = None
        try:
            charts = self._throughput.charts(self._clock.now())
        except _SOURCE_ERRORS as exc:
            errors["charts"] = _why(exc)
        outcomes: Counter[str] = Counter()
        try:
            settled = self._processed_by_id(RECENT_OUTCOMES)
            outcomes.update(e.status for e in settled.values())
        except _SOURCE_ERRORS as exc:
            errors["outcomes"] = _why(exc)
        return Overview(status, charts, dict(outcomes), sum(outcomes.values()), errors)

    # -- payments --------------------------------------------------------------------

    def payments(self, query: Query) -> PaymentsPage:
        n = query.per_partition()
        try:
            requested = [
                e
                for r in self._rt.requested.newest(n)
                if (e := _event(PaymentRequested, r.value)) is not None
            ]
            records = payment_list.newest_payments(requested, self._processed_by_id(n))
            chosen = payment_list.select(records, query)
            if not chosen and len(query.q) == payment_list.FULL_ID_LENGTH:
                found = self._rt.lookup.find(query.q)  # older than the window, perhaps
                chosen = [found] if found else []
            shown, has_next = payment_list.page_of(chosen, query.page)
            rows = [row for r in shown if (row := self._row(self._settle(r), query))]
        except _SOURCE_ERRORS as exc:
            return PaymentsPage(query, [], False, 0, _why(exc))
        return PaymentsPage(query, rows, has_next, len(records))

    def _settle(self, record: PaymentRecord) -> PaymentRecord:
        """A row without an outcome in the window, as the ledger has it now."""
        if record.status.terminal:
            return record
        return self._rt.lookup.find(record.transaction_id) or record

    def _row(self, record: PaymentRecord, query: Query) -> PaymentRow | None:
        if query.status is not None and record.status is not query.status:
            return None
        try:
            view = PaymentView.of(record)
        except MoneyError:
            return None
        return PaymentRow(view, record.merchant_id, self._names.name(record.merchant_id))

    def _processed_by_id(self, per_partition: int) -> dict[str, PaymentProcessed]:
        out: dict[str, PaymentProcessed] = {}
        for r in self._rt.processed.newest(per_partition):
            e = _event(PaymentProcessed, r.value)
            if e is not None:
                out.setdefault(e.transaction_id, e)
        return out

    def payment(self, transaction_id: str) -> PaymentDetail | None:
        record = self._rt.lookup.find(transaction_id)
        if record is None:
            return None
        view = PaymentView.of(record)
        rounds = (
            self._rt.deliveries.history(webhook_id(transaction_id))
            if record.status.terminal
            else []
        )
        return PaymentDetail(
            view,
            record.merchant_id,
            self._names.name(record.merchant_id),
            timeline(view),
            rounds,
        )

    def resend(self, transaction_id: str) -> Delivery:
        """The resend API's use case, for the payment's own merchant (DomainError as it
        raises them: not found, no webhook yet)."""
        record = self._rt.lookup.find(transaction_id)
        merchant_id = record.merchant_id if record else ""
        return self._rt.lookup.resend_webhook(merchant_id, transaction_id)

    # -- dead letters ----------------------------------------------------------------

    def dead_letters(self) -> DeadLettersPage:
        try:
            listed = dlq.dead_letters(self._rt.infra)
        except _SOURCE_ERRORS as exc:
            return DeadLettersPage([], [], 0, _why(exc))
        counts = Counter((x.letter.topic, x.letter.condition, x.letter.reason) for x in listed)
        groups = [DeadLetterGroup(t, c, r, n) for (t, c, r), n in sorted(counts.items())]
        newest = sorted(
            listed, key=lambda x: (x.letter.topic, x.letter.partition, -x.letter.offset)
        )
        return DeadLettersPage(groups, newest[:DEAD_LETTERS_SHOWN], len(listed))

    def redrive(self, position: str) -> dlq.Redriven:
        return dlq.redrive_positions(self._rt.infra, [position])


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, TransientError) else f"kafka: {exc}"
