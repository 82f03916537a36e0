"""Steady payment load for a scenario (harness/traffic.py's mix of test cards, replays and
invalid requests) in a background thread, and the audit of what it left behind
(harness/audit.py), read against the chaos stack."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.stack import ChaosStack, Merchant
from common.adapters.mongo_connection import mongo_client
from common.adapters.mongo_payment_ledger import PAYMENT_CLAIMS, PAYMENT_OUTCOMES
from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.domain.ports import PaymentReader
from harness import audit, traffic
from harness.traffic import Submission


@dataclass
class Load:
    """`rate_per_s` requests per second for `seconds`, to one fresh merchant whose webhooks
    go to `webhook_base`/hooks/<merchantId> (the receiver, or a proxy in front of it)."""

    stack: ChaosStack
    merchant: Merchant
    rate_per_s: float
    seconds: float
    webhook_base: str
    submissions: list[Submission] = field(default_factory=list)
    started_at: float = 0.0
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def label(self) -> str:
        return f"{self.rate_per_s:g}/s x {self.seconds:g} s"

    @property
    def webhook_url(self) -> str:
        return f"{self.webhook_base}/hooks/{self.merchant.merchant_id}"

    def start(self) -> Load:
        plan = traffic.plan_mix(
            int(self.rate_per_s * self.seconds), self.webhook_url, f"chaos-{uuid.uuid4().hex[:8]}"
        )

        def run() -> None:
            self.submissions.extend(
                traffic.send(
                    self.stack.settings.api_url,
                    self.merchant.api_key,
                    plan,
                    self.rate_per_s,
                    concurrency=8,
                    stop=self._stop.is_set,
                )
            )

        self.started_at = time.time()
        self._thread = threading.Thread(target=run, name="chaos-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float = 300) -> list[Submission]:
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise TimeoutError("the load did not finish")
        return self.submissions

    def sources(self, payments: PaymentReader) -> audit.Sources:
        s = self.stack.settings
        return audit.Sources(payments, s.bank_url, s.receiver_url, self.merchant.merchant_id)

    def settle(self, timeout_s: float = 180) -> audit.Audit:
        """Wait until every accepted payment is terminal with its webhook (or time out)."""
        client = mongo_client(self.stack.settings.mongo_uri, 10_000, 120_000)
        try:
            return _settle_tolerant(
                self.join(), self.sources(MongoPaymentReader(client["paygate"])), timeout_s
            )
        finally:
            client.close()


def _settle_tolerant(
    submissions: list[Submission], sources: audit.Sources, timeout_s: float
) -> audit.Audit:
    """audit.settle, but a read that fails while a service is still coming back is retried."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return audit.settle(submissions, sources, max(1.0, deadline - time.monotonic()))
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def recovery_s(result: audit.Audit, lifted_at: float) -> float | None:
    """Lift → the last verified webhook of the payments submitted before the lift."""
    before = [
        p.first_webhook_at
        for p in result.payments.values()
        if p.submitted_at <= lifted_at and p.first_webhook_at is not None
    ]
    return max(0.0, max(before) - lifted_at) if before else None


def stuck(stack: ChaosStack, merchant_ids: list[str]) -> list[str]:
    """Payments of these merchants still pending/processing in MongoDB."""
    client = mongo_client(stack.settings.mongo_uri, 10_000, 120_000)
    try:
        db = client["paygate"]
        claimed = db[PAYMENT_CLAIMS].find(
            {"merchantId": {"$in": merchant_ids}}, {"_id": 1, "transactionId": 1}
        )
        outcomes = db[PAYMENT_OUTCOMES]
        txs = [str(d.get("transactionId", d["_id"])) for d in claimed]  # "{id}#1" after a void
        return [tx for tx in txs if outcomes.find_one({"_id": tx}) is None]
    finally:
        client.close()


def wait_until(condition: Callable[[], bool], timeout_s: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()
