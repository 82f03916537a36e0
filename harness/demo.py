"""`make demo` (`python -m harness demo`): bring the whole system up, send a realistic mix of
payments at a steady rate, wait until every accepted payment is terminal and its webhook
verified at the merchant, search every store for leaked card numbers and keys, and print a
summary. Exit status 1 if anything was lost, charged twice, unverified, answered against the
contract, or leaked. The system keeps running afterwards (`make down` stops it).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import requests

from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_payment_reader import MongoPaymentReader
from harness import audit, leaks, stack, traffic
from harness.infra import manager
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from harness.local_env import function_env


@dataclass(frozen=True)
class DemoOptions:
    rate_per_s: float = 10.0
    seconds: float = 20.0
    settle_timeout_s: float = 180.0


Out = Callable[[str], None]


def _line(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class _Progress:
    """A progress line: rewritten in place on a terminal, else printed every few seconds."""

    def __init__(self, every_s: float = 5.0) -> None:
        self._every_s = every_s
        self._last = 0.0

    def __call__(self, a: audit.Audit) -> None:
        terminal = a.accepted - len(a.not_terminal)
        text = (
            f"waiting: {terminal}/{a.accepted} terminal, "
            f"{a.webhooks_verified}/{a.accepted} webhooks verified"
        )
        if sys.stdout.isatty():
            sys.stdout.write("\r\033[K" + text)
        elif time.monotonic() - self._last >= self._every_s:
            self._last = time.monotonic()
            sys.stdout.write(text + "\n")
        sys.stdout.flush()


def run(s: InfraSettings, options: DemoOptions, out: Out = _line) -> int:
    started = time.time()
    report = manager.up(s)
    out(f"infrastructure ({report.mode}) up in {report.seconds:.1f} s")
    for component, state in stack.up(s):
        out(f"  {component.process.name:<9} {state:<8} {component.description}")
    run_id = f"demo-{uuid.uuid4().hex[:8]}"
    merchant = merchant_directory(s).create(f"Demo Shop {run_id}")
    # Default knobs: a bank left in an outage by a manual session would only slow the demo.
    requests.put(f"{s.bank_url}/control", json={}, timeout=10).raise_for_status()
    webhook_url = f"{s.receiver_url}/hooks/{merchant.merchant_id}"
    plan = traffic.plan_mix(
        max(1, round(options.rate_per_s * options.seconds)), webhook_url, run_id
    )
    out(
        f"\nmerchant {merchant.merchant_id}: sending {len(plan)} requests at "
        f"{options.rate_per_s:g}/s to {s.api_url} (webhooks to {webhook_url})"
    )
    submissions = traffic.send(s.api_url, merchant.api_key, plan, options.rate_per_s)
    sent_s = time.time() - started
    database = function_env("ProcessFunction", s)["MONGO_DATABASE"]
    # Reading every document (the leak search) is slow on FerretDB: a generous timeout.
    client = mongo_client(s.mongo_uri, op_timeout_ms=120_000)
    try:
        sources = audit.Sources(
            MongoPaymentReader(client[database]), s.bank_url, s.receiver_url, merchant.merchant_id
        )
        result = audit.settle(submissions, sources, options.settle_timeout_s, _Progress())
        if sys.stdout.isatty():
            sys.stdout.write("\n")
        needles = {f"card {c.number[-4:]}": c.number for c in traffic.TEST_CARDS}
        needles["API key"] = merchant.api_key
        found = [
            *leaks.scan_kafka(s.kafka_bootstrap, needles, int(started * 1000)),
            *leaks.scan_redis(s.redis_url, needles),
            *leaks.scan_mongo(client[database], needles),
            *leaks.scan_logs(s.run_dir, needles),
        ]
    finally:
        client.close()
    for line in summary(result, found, options, time.time() - started, sent_s):
        out(line)
    out(f"\nThe system keeps running: {s.api_url} (make status; make down stops it).")
    return 0 if result.ok and not found else 1


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms"


def summary(
    a: audit.Audit,
    found: list[leaks.Finding],
    options: DemoOptions,
    total_s: float,
    sent_s: float,
) -> list[str]:
    sent = len(a.submissions)
    replayed, replays = a.replays
    refused = sum(a.rejected.values())
    lines = [
        "",
        f"paygate demo: {sent} requests at {options.rate_per_s:g}/s, "
        f"settled {total_s - sent_s:.0f} s after the last one ({total_s:.0f} s in all)",
        "",
        f"requests   {sent} sent: {a.accepted} payments accepted (202), "
        f"{replayed}/{replays} replayed Idempotency-Keys answered with the original payment, "
        f"{refused} refused",
    ]
    for reason, count in sorted(a.rejected.items()):
        lines.append(f"  refused  {count:>4}  {reason}")
    for s in a.unexpected_answers:
        lines.append(
            f"  UNEXPECTED: {s.request.label!r} answered {s.status}, "
            f"the contract says {s.request.expected_status} ({s.problem})"
        )
    lines.append(f"outcomes   {a.accepted - len(a.not_terminal)}/{a.accepted} terminal:")
    for outcome, count in sorted(a.outcomes.items()):
        lines.append(f"  {count:>5}  {outcome}")
    wrong = a.wrong_outcomes
    lines.append(
        "  every outcome is the one its test card promises"
        if not wrong
        else f"  WRONG OUTCOMES: {len(wrong)}, e.g. {wrong[0].transaction_id}: "
        f"{wrong[0].outcome}, expected {wrong[0].expected}"
    )
    lines += [
        f"webhooks   {a.webhooks_verified}/{a.accepted} delivered and verified "
        f"(Standard Webhooks signature), {a.duplicate_webhook_events} duplicate events, "
        f"{a.webhook_retries} retries of the same event, "
        f"{a.unverified_deliveries} failed verification",
    ]
    quick = [
        p.first_webhook_at - p.submitted_at
        for p in a.payments.values()
        if p.first_webhook_at is not None
        and (p.card is None or p.card.reason != "bank_unavailable")
    ]
    lat = a.latencies_s
    lines += [
        "latency    submit → verified webhook: "
        f"p50 {_ms(audit.percentile(lat, 50))}, p95 {_ms(audit.percentile(lat, 95))}, "
        f"p99 {_ms(audit.percentile(lat, 99))}",
        "           of the cards the bank answers in time (the late-approval card waits "
        f"out the retry budget): p50 {_ms(audit.percentile(quick, 50))}, "
        f"p95 {_ms(audit.percentile(quick, 95))}, p99 {_ms(audit.percentile(quick, 99))}",
        f"bank       {len(a.double_charged)} payments charged twice, "
        f"{len(a.charged_not_succeeded)} charged but not succeeded, "
        f"{len(a.succeeded_not_charged)} succeeded but not charged",
        f"reversals  {a.reversals} timed-out authorizations reversed (late approvals voided)",
        "secrets    card numbers and the API key in Kafka, Redis, MongoDB and logs: "
        + ("none found" if not found else ", ".join(f"{f.kind} in {f.where}" for f in found)),
        f"lost       {len(a.lost)}" + (f" (e.g. {', '.join(a.lost[:3])})" if a.lost else ""),
        "",
        "RESULT     " + ("OK" if a.ok and not found else "FAILED"),
    ]
    return lines
