"""After traffic (harness/traffic.py): did every accepted payment end where it should?

Collects what the system's own records and its counterparties say, and compares them with
what was submitted: the payment's document in MongoDB (terminal? the outcome its test card
promises?), the bank simulator's authorizations ("charged" = approved and not reversed: at
most one charge per merchant reference, more is a double charge; a charge for a payment not
`succeeded`, or a `succeeded` payment without one, is money wrong), and the demo receiver's
deliveries (exactly one verified webhook
event per payment; the same webhook-id again is a retry, another id is a duplicate event).
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from common.domain.errors import TransientError
from common.domain.ports import PaymentReader
from harness.traffic import CardCase, Submission

TERMINAL = frozenset({"succeeded", "declined", "failed"})


@dataclass
class PaymentTrace:
    transaction_id: str
    card: CardCase | None
    reference: str | None
    submitted_at: float
    status: str | None = None
    reason: str | None = None
    webhook_ids: set[str] = field(default_factory=set)
    first_webhook_at: float | None = None
    bank_approvals: int = 0
    """Authorizations the bank approved for this payment, reversed or not."""
    bank_charges: int = 0
    """Approved and not reversed: money taken."""
    bank_reversals: int = 0

    @property
    def outcome(self) -> str:
        return f"{self.status} {self.reason}" if self.reason else str(self.status)

    @property
    def expected(self) -> str | None:
        if self.card is None:
            return None
        return f"{self.card.status} {self.card.reason}" if self.card.reason else self.card.status


@dataclass
class Audit:
    submissions: list[Submission]
    payments: dict[str, PaymentTrace]
    unverified_deliveries: int = 0
    webhook_retries: int = 0

    @property
    def accepted(self) -> int:
        return len(self.payments)

    @property
    def rejected(self) -> Counter[str]:
        return Counter(f"{s.status} {s.problem}" for s in self.submissions if not s.accepted)

    @property
    def unexpected_answers(self) -> list[Submission]:
        """Requests answered otherwise than the contract promises (e.g. a 5xx, or an
        invalid request accepted). A replay sent while its original was still waiting for
        its answer may get 409 instead (DESIGN.md §4: the same key while the first request
        is still in flight), e.g. when Kafka is slow to acknowledge."""
        first_sent = {
            s.request.idempotency_key: s for s in self.submissions if s.request.kind == "payment"
        }

        def allowed(s: Submission) -> bool:
            if s.status == s.request.expected_status:
                return True
            original = first_sent.get(s.request.idempotency_key)
            return (
                s.request.kind == "replay"
                and s.status == 409
                and original is not None
                and original.submitted_at
                <= s.submitted_at
                <= original.submitted_at + original.seconds
            )

        return [s for s in self.submissions if not allowed(s)]

    @property
    def replays(self) -> tuple[int, int]:
        """(replays answered with the original payment, replays sent)."""
        sent = [s for s in self.submissions if s.request.kind == "replay"]
        return sum(1 for s in sent if s.accepted and s.replayed), len(sent)

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(p.outcome for p in self.payments.values() if p.status in TERMINAL)

    @property
    def wrong_outcomes(self) -> list[PaymentTrace]:
        return [
            p
            for p in self.payments.values()
            if p.status in TERMINAL and p.expected is not None and p.outcome != p.expected
        ]

    @property
    def not_terminal(self) -> list[str]:
        return sorted(t for t, p in self.payments.items() if p.status not in TERMINAL)

    @property
    def without_webhook(self) -> list[str]:
        return sorted(t for t, p in self.payments.items() if not p.webhook_ids)

    @property
    def lost(self) -> list[str]:
        """Accepted, but not terminal or without a verified webhook event."""
        return sorted(set(self.not_terminal) | set(self.without_webhook))

    @property
    def duplicate_webhook_events(self) -> int:
        return sum(max(0, len(p.webhook_ids) - 1) for p in self.payments.values())

    @property
    def double_charged(self) -> list[str]:
        return sorted(t for t, p in self.payments.items() if p.bank_charges > 1)

    @property
    def charged_not_succeeded(self) -> list[str]:
        """Terminal, not `succeeded`, and the bank kept an approval: the merchant was told to
        ask again for money already taken."""
        return sorted(
            t
            for t, p in self.payments.items()
            if p.status in TERMINAL and p.status != "succeeded" and p.bank_charges > 0
        )

    @property
    def succeeded_not_charged(self) -> list[str]:
        """`succeeded` without a charge the bank kept (none, or reversed)."""
        return sorted(
            t for t, p in self.payments.items() if p.status == "succeeded" and p.bank_charges == 0
        )

    @property
    def reversals(self) -> int:
        return sum(p.bank_reversals for p in self.payments.values())

    @property
    def webhooks_verified(self) -> int:
        return sum(1 for p in self.payments.values() if p.webhook_ids)

    @property
    def latencies_s(self) -> list[float]:
        """Submit → first verified webhook at the merchant, per payment."""
        return sorted(
            p.first_webhook_at - p.submitted_at
            for p in self.payments.values()
            if p.first_webhook_at is not None
        )

    @property
    def ok(self) -> bool:
        return not (
            self.lost
            or self.double_charged
            or self.charged_not_succeeded
            or self.succeeded_not_charged
            or self.duplicate_webhook_events
            or self.unverified_deliveries
            or self.unexpected_answers
            or self.wrong_outcomes
        )


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Sources:
    """Where the audit looks: the ledger (as GET reads it), the bank, the merchant's receiver."""

    payments: PaymentReader
    bank_url: str
    receiver_url: str
    merchant_id: str


def traces(submissions: Iterable[Submission]) -> dict[str, PaymentTrace]:
    out: dict[str, PaymentTrace] = {}
    for s in submissions:
        if s.accepted and s.transaction_id is not None and s.transaction_id not in out:
            out[s.transaction_id] = PaymentTrace(
                s.transaction_id, s.request.card, s.request.reference, s.submitted_at
            )
    return out


def collect(
    submissions: list[Submission],
    sources: Sources,
    previous: Audit | None = None,
    *,
    every_payment: bool = True,
) -> Audit:
    """What the sources say now. Terminal statuses already read by `previous` are kept (a
    terminal status never changes). With `every_payment` False, MongoDB is asked only about
    payments whose webhook has arrived: polling is cheap while the pipeline works."""
    audit = Audit(submissions, previous.payments if previous else traces(submissions))
    _read_deliveries(audit, sources.receiver_url, sources.merchant_id)
    _read_payments(audit, sources.payments, every_payment=every_payment)
    _read_bank(audit, sources.bank_url, sources.merchant_id)
    return audit


def _read_payments(
    audit: Audit,
    payments: PaymentReader,
    *,
    every_payment: bool,
) -> None:
    """Lookups by `_id` of payments not yet known to be terminal: every one, or (polling)
    only those whose webhook arrived, read as GET reads them (point lookups by `_id`, whose
    cost does not grow with the number of payments). Eight at a time, since each is a few
    round trips."""
    pending = [
        t
        for t in audit.payments.values()
        if t.status not in TERMINAL and (every_payment or t.webhook_ids)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        records = pool.map(lambda t: payments.get(t.transaction_id), pending)
        for trace, record in zip(pending, records, strict=True):
            if record is not None:
                trace.status = record.status.value
                trace.reason = record.decline_code or record.failure_reason


def _read_bank(audit: Audit, bank_url: str, merchant_id: str) -> None:
    by_reference = {p.reference: p for p in audit.payments.values() if p.reference}
    answer = requests.get(
        f"{bank_url}/v1/authorizations", params={"merchantId": merchant_id}, timeout=30
    )
    answer.raise_for_status()
    for p in audit.payments.values():
        p.bank_approvals = p.bank_charges = p.bank_reversals = 0
    for row in answer.json():
        trace = audit.payments.get(row["idempotencyKey"]) or by_reference.get(row["reference"])
        if trace is None:
            continue
        reversed_ = bool(row.get("reversed"))
        trace.bank_reversals += reversed_
        if row["approved"]:
            trace.bank_approvals += 1
            trace.bank_charges += not reversed_


def _read_deliveries(audit: Audit, receiver_url: str, merchant_id: str) -> None:
    answer = requests.get(
        f"{receiver_url}/received", params={"merchantId": merchant_id}, timeout=30
    )
    answer.raise_for_status()
    ids: dict[str, set[str]] = defaultdict(set)
    first: dict[str, float] = {}
    unverified = retries = 0
    for d in answer.json():
        if not d["verified"]:
            unverified += 1
            continue
        if d["attempt"] > 1:
            retries += 1
        tx = d["transaction_id"]
        if tx not in audit.payments or not 200 <= d["status_answered"] < 300:
            continue
        ids[tx].add(d["webhook_id"])
        first[tx] = min(first.get(tx, d["received_at"]), d["received_at"])
    audit.unverified_deliveries, audit.webhook_retries = unverified, retries
    for tx, trace in audit.payments.items():
        trace.webhook_ids = ids.get(tx, set())
        trace.first_webhook_at = first.get(tx)


def settle(
    submissions: list[Submission],
    sources: Sources,
    timeout_s: float,
    progress: Callable[[Audit], None] = lambda _a: None,
    poll_s: float = 1.0,
) -> Audit:
    """Collect until nothing is lost any more or `timeout_s` passes; the last audit. A source
    that does not answer (a store under load, a receiver restarting) is asked again at the
    next poll; if it never answers, the error reaches the caller."""
    deadline = time.monotonic() + timeout_s
    audit = None
    while True:
        try:
            audit = collect(submissions, sources, audit, every_payment=False)
            done = not audit.without_webhook or time.monotonic() > deadline
            if done or not audit.lost:
                audit = collect(submissions, sources, audit, every_payment=True)
        except (TransientError, requests.RequestException):
            if time.monotonic() > deadline:
                raise
            time.sleep(poll_s)
            continue
        progress(audit)
        if not audit.lost or time.monotonic() > deadline:
            return audit
        time.sleep(poll_s)
