"""Payment traffic for the demo, the chaos suite and the benchmarks: a planned mix of
requests (every test card of DESIGN.md §5, replayed Idempotency-Keys, invalid requests) sent
to the API at a steady arrival rate, every answer recorded with the time it was submitted.

The plan is pure data (`plan_mix`); `send` is the only part that does I/O.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests


@dataclass(frozen=True)
class CardCase:
    number: str
    label: str
    status: str
    """The terminal status DESIGN.md §5 promises for this card."""
    reason: str | None = None
    """declineCode of a declined payment, failureReason of a failed one."""
    weight: int = 1
    """How often the mix uses it, relative to the others."""


TEST_CARDS: tuple[CardCase, ...] = (
    CardCase("4242424242424242", "visa approved", "succeeded", weight=8),
    CardCase("5555555555554444", "mastercard approved", "succeeded", weight=5),
    CardCase("4000000000000002", "declined", "declined", "card_declined", weight=2),
    CardCase("4000000000009995", "insufficient funds", "declined", "insufficient_funds"),
    CardCase("4000000000000069", "expired at the bank", "declined", "expired_card"),
    CardCase("4000000000000119", "bank 503 twice, then approved", "succeeded"),
    CardCase("4000000000000259", "bank approves too late", "failed", "bank_unavailable"),
)


@dataclass(frozen=True)
class PlannedRequest:
    kind: str
    """payment | replay | invalid"""
    label: str
    body: bytes
    headers: dict[str, str]
    expected_status: int
    """The HTTP status the contract promises for this request."""
    card: CardCase | None = None
    idempotency_key: str | None = None
    reference: str | None = None


def payment_body(
    card: CardCase, webhook_url: str, reference: str, amount: str = "49.99", **extra: Any
) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "EUR",
        "webhookUrl": webhook_url,
        "reference": reference,
        "card": {"number": card.number, "expMonth": 12, "expYear": 2030, "cvc": "123"},
        **extra,
    }


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


JSON = {"Content-Type": "application/json"}


def invalid_requests(webhook_url: str, reference: str) -> list[PlannedRequest]:
    """Requests the API must refuse, one per kind of refusal a merchant meets."""
    visa = TEST_CARDS[0]

    def body(**changes: Any) -> bytes:
        doc = payment_body(visa, webhook_url, reference)
        card = {**doc["card"], **changes.pop("card", {})}
        return _json({**doc, **changes, "card": card})

    def bad(label: str, raw: bytes, status: int = 422, **headers: str) -> PlannedRequest:
        return PlannedRequest("invalid", label, raw, {**JSON, **headers}, status)

    return [
        bad("malformed JSON", b'{"amount": "49.99", "currency": '),
        bad("card number fails Luhn", body(card={"number": "4242424242424241"})),
        bad("three decimals in EUR", body(amount="49.999")),
        bad("expired card", body(card={"expYear": 2020})),
        bad("SSRF bait: decimal-IP webhook host", body(webhookUrl="http://2852039166/latest")),
        bad("unknown currency", body(currency="XXX")),
        PlannedRequest("invalid", "no API key", body(), {**JSON, "X-API-Key": ""}, 401),
        PlannedRequest("invalid", "form-encoded body", b"amount=49.99", {}, 415),
    ]


def planned_payment(card: CardCase, webhook_url: str, run_id: str, i: int) -> PlannedRequest:
    """The i-th payment of a run on `card`, with its own reference and Idempotency-Key."""
    reference, key = f"{run_id}-{i:06d}", f"{run_id}-key-{i:06d}"
    return PlannedRequest(
        "payment",
        card.label,
        _json(payment_body(card, webhook_url, reference)),
        {**JSON, "Idempotency-Key": key},
        202,
        card,
        key,
        reference,
    )


def plan_mix(
    count: int,
    webhook_url: str,
    run_id: str,
    invalid_every: int = 12,
    replay_every: int = 25,
) -> list[PlannedRequest]:
    """`count` requests: mostly payments cycling through the test cards, every
    `invalid_every`-th an invalid request, every `replay_every`-th a replay of a payment sent
    ~20 requests earlier (same Idempotency-Key and body: the answer must be the same 202)."""
    plan: list[PlannedRequest] = []
    payments: list[PlannedRequest] = []
    invalid_i = card_i = 0
    cycle = [card for card in TEST_CARDS for _ in range(card.weight)]
    step = next(k for k in (7, 5, 3, 1) if len(cycle) % k)  # coprime: a permutation
    cycle = [cycle[(i * step) % len(cycle)] for i in range(len(cycle))]  # cards spread out
    for i in range(count):
        position = i + 1
        if position % replay_every == 0 and len(payments) > 20:
            original = payments[-20]
            plan.append(
                PlannedRequest(
                    "replay",
                    "replayed Idempotency-Key",
                    original.body,
                    original.headers,
                    202,
                    original.card,
                    original.idempotency_key,
                    original.reference,
                )
            )
            continue
        if position % invalid_every == 0:
            kinds = invalid_requests(webhook_url, f"{run_id}-invalid-{i}")
            plan.append(kinds[invalid_i % len(kinds)])
            invalid_i += 1
            continue
        card = cycle[card_i % len(cycle)]
        card_i += 1
        request = planned_payment(card, webhook_url, run_id, i)
        plan.append(request)
        payments.append(request)
    return plan


@dataclass
class Submission:
    request: PlannedRequest
    submitted_at: float
    """Wall-clock time (time.time()) the request was sent."""
    seconds: float
    """How long the API took to answer."""
    status: int
    """The HTTP status, 0 when no answer came (connection refused, timeout)."""
    transaction_id: str | None = None
    replayed: bool = False
    problem: str | None = None
    """For an error: its title and the first field error, as the merchant reads them."""

    @property
    def accepted(self) -> bool:
        return self.status == 202 and self.transaction_id is not None


def _problem(answer: requests.Response) -> str:
    try:
        doc = answer.json()
    except ValueError:
        return answer.text[:200]
    if not isinstance(doc, dict):
        return str(doc)[:200]
    errors = doc.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    detail = first.get("message") or doc.get("detail") or ""
    return f"{doc.get('title', '')}: {detail}".strip(": ")


def submit(
    session: requests.Session, api_url: str, api_key: str, request: PlannedRequest
) -> Submission:
    headers = {"X-API-Key": api_key, **request.headers}
    if not headers["X-API-Key"]:
        del headers["X-API-Key"]
    started, wall = time.perf_counter(), time.time()
    try:
        answer = session.post(
            f"{api_url}/api/payments", data=request.body, headers=headers, timeout=30
        )
    except requests.RequestException as exc:
        return Submission(request, wall, time.perf_counter() - started, 0, problem=str(exc))
    seconds = time.perf_counter() - started
    if answer.status_code == 202:
        doc = answer.json()
        return Submission(
            request,
            wall,
            seconds,
            202,
            transaction_id=doc.get("transactionId"),
            replayed=answer.headers.get("Idempotent-Replayed") == "true",
        )
    return Submission(request, wall, seconds, answer.status_code, problem=_problem(answer))


@dataclass
class _Sender:
    api_url: str
    api_key: str
    results: list[Submission] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def work(self, jobs: queue.Queue[PlannedRequest | None]) -> None:
        session = requests.Session()
        while (request := jobs.get()) is not None:
            result = submit(session, self.api_url, self.api_key, request)
            with self.lock:
                self.results.append(result)
        session.close()


def send(
    api_url: str,
    api_key: str,
    plan: Sequence[PlannedRequest],
    rate_per_s: float,
    *,
    concurrency: int = 16,
    stop: Callable[[], bool] = lambda: False,
) -> list[Submission]:
    """Send `plan` at `rate_per_s` arrivals per second (a request due while every sender
    thread is busy waits for one: at rates this sender cannot reach, the rate drops); stop
    early when `stop()` says so. Returns the answers in the order they came."""
    sender = _Sender(api_url, api_key)
    jobs: queue.Queue[PlannedRequest | None] = queue.Queue(maxsize=concurrency)
    threads = [
        threading.Thread(target=sender.work, args=(jobs,), daemon=True) for _ in range(concurrency)
    ]
    for t in threads:
        t.start()
    for request in paced(plan, rate_per_s):
        if stop():
            break
        jobs.put(request)
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join()
    return sender.results


def paced(plan: Sequence[PlannedRequest], rate_per_s: float) -> Iterator[PlannedRequest]:
    start = time.monotonic()
    for i, request in enumerate(plan):
        delay = start + i / rate_per_s - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield request
