"""Payments for the dashboard's tests, written the way the functions write them: events on
the test's own topics (KafkaEventPublisher), claims, attempts, outcomes and reversals through
MongoPaymentLedger, webhooks through MongoWebhookDeliveries, merchants through
MerchantRegistry, dead letters through `dead_letter`, all into a scratch database.

Ten minutes of earlier traffic is backdated: its records are produced with the timestamps
they would have had (KafkaEventPublisher stamps "now" and takes no timestamp), so that the
overview's charts have something to draw.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
import uvicorn
from confluent_kafka import Producer
from pymongo.database import Database

from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.adapters.merchant_registry import MerchantRegistry
from common.adapters.mongo_payment_ledger import MongoPaymentLedger
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.adapters.redis_connection import LoopRedis
from common.adapters.redis_intake_records import RedisIntakeRecords
from common.dead_letters import POISON, RETRIES_EXHAUSTED, dead_letter
from common.domain.events import CardToken, PaymentProcessed, PaymentRequested
from common.domain.payment import PaymentStatus, ReversalEntry
from common.domain.ports import BankAttempt, Outcome, PendingReversal
from common.domain.webhooks import (
    Delivery,
    DeliveryAttempt,
    after_attempt,
    new_delivery,
)
from common.lambda_kafka import KafkaRecord, encode_record
from common.security.sealed_box import SealedBox, decode_key, new_key
from functions.process.service import processed_event
from harness.dashboard.app import create_dashboard_app
from harness.infra.settings import InfraSettings
from tests.own_loop import run

HOSTILE = "<script>alert('x')</script><img src=x onerror=alert(1)>"
"""What a merchant (or a payer, through a reference) may put in any field shown."""
SCHEDULE = (5.0, 300.0)


@dataclass
class Topics:
    requested: str
    processed: str
    retry: str

    @property
    def all(self) -> list[str]:
        return [self.requested, self.processed, self.retry, *self.dead_letter_topics]

    @property
    def dead_letter_topics(self) -> list[str]:
        return [f"{self.requested}.dlq", f"{self.processed}.dlq"]

    def overrides(self, database: str) -> str:
        return (
            f"MongoDatabase={database} PaymentRequestedTopic={self.requested} "
            f"PaymentProcessedTopic={self.processed} PaymentRetryTopic={self.retry}"
        )


@dataclass
class Seeded:
    merchant_id: str
    traffic_merchant_id: str
    featured: str
    """Succeeded after a bank attempt in doubt; its webhook failed once, then was delivered."""
    declined: str
    reversed: str
    """Failed, its authorization reversed and the reversal acknowledged."""
    processing: str
    pending: str
    traffic: int
    letters: list[str] = field(default_factory=list)
    """Positions of the dead letters, the poison one first."""


class Seeder:
    def __init__(
        self,
        db: Database[dict[str, Any]],
        cache: redis.Redis,
        redis_url: str,
        topics: Topics,
        bootstrap: str,
    ) -> None:
        self.db, self.topics, self.bootstrap = db, topics, bootstrap
        self.ledger = MongoPaymentLedger(db)
        self.deliveries = MongoWebhookDeliveries(db)
        self.merchants = MerchantRegistry(db, cache, SealedBox(decode_key(new_key())))
        self.box = SealedBox(decode_key(new_key()))
        self.intake = RedisIntakeRecords(LoopRedis(redis_url))

    def request(
        self, merchant_id: str, at: datetime, reference: str | None = None, **extra: Any
    ) -> PaymentRequested:
        tx = str(uuid.uuid4())
        return PaymentRequested(
            event_id=str(uuid.uuid4()),
            occurred_at=at,
            transaction_id=tx,
            merchant_id=merchant_id,
            amount_minor=extra.pop("amount_minor", 4999),
            currency="EUR",
            reference=reference or f"order-{tx[:6]}",
            webhook_url=extra.pop("webhook_url", "http://127.0.0.1:9/hooks"),
            card=CardToken(
                token=self.box.seal(b"4242424242424242", tx.encode()),
                brand="visa",
                last4="4242",
                exp_month=12,
                exp_year=2030,
                fingerprint="fp_dashboard",
            ),
            **extra,
        )

    def outcome(
        self,
        r: PaymentRequested,
        status: str,
        processed_at: datetime,
        claimed_at: datetime,
        attempts: Sequence[BankAttempt] = (),
        reversal: ReversalEntry | None = None,
        **codes: str,
    ) -> PaymentProcessed:
        """The PaymentProcessed process would publish for this outcome (its own mapper)."""
        e = processed_event(
            r, Outcome(PaymentStatus(status), **codes), attempts, claimed_at, processed_at
        )
        return e if reversal is None else e.model_copy(update={"reversal": reversal})

    # -- the payments the pages are checked on ----------------------------------------

    def seed(self, now: datetime) -> Seeded:
        shop = self.merchants.create(f"Shop {HOSTILE}").merchant_id
        traffic_shop = self.merchants.create("Traffic Shop").merchant_id
        traffic = self.seed_traffic(traffic_shop, now)
        t0 = now - timedelta(seconds=3)
        featured = self.request(
            shop,
            t0,
            reference=f"ref-{HOSTILE}",
            description=f"desc {HOSTILE}",
            metadata={"note": HOSTILE, HOSTILE: "key"},
            webhook_url=f"http://127.0.0.1:9/hooks?{HOSTILE}",
        )
        declined = self.request(shop, t0 + timedelta(milliseconds=50), reference="declined-1")
        reversed_ = self.request(shop, t0 + timedelta(milliseconds=100), reference="reversed-1")
        processing = self.request(shop, t0 + timedelta(milliseconds=150))
        pending = self.request(shop, t0 + timedelta(milliseconds=200), reference="pending-1")
        requests = [featured, declined, reversed_, processing, pending]
        run(self.intake.begin(shop, None, "", pending.pending_record()))
        publisher = KafkaEventPublisher(self.bootstrap)
        try:
            for r in requests:
                publisher.publish(self.topics.requested, r.transaction_id, r.to_json(), [])
            claimed = t0 + timedelta(milliseconds=400)
            entries = self.ledger.claim_all(requests[:4], claimed)
            doubt = BankAttempt(claimed, 2000.0, "unavailable", "read timeout")
            self.ledger.record_attempts(entries[0], [doubt])
            approved = BankAttempt(claimed + timedelta(seconds=2), 41.0, "approved")
            outcomes = [
                self.outcome(
                    featured,
                    "succeeded",
                    claimed + timedelta(seconds=2.1),
                    claimed,
                    [doubt, approved],
                    bank_reference="bank-1",
                ),
                self.outcome(
                    declined,
                    "declined",
                    claimed + timedelta(milliseconds=60),
                    claimed,
                    [BankAttempt(claimed, 55.0, "declined")],
                    decline_code="insufficient_funds",
                ),
                self.outcome(
                    reversed_,
                    "failed",
                    claimed + timedelta(seconds=2),
                    claimed,
                    [BankAttempt(claimed, 2000.0, "unavailable", "timeout")],
                    failure_reason="bank_timeout",
                    reversal=ReversalEntry(requested_at=claimed + timedelta(seconds=2)),
                ),
            ]
            self.ledger.record_outcomes(list(zip(entries[:3], outcomes, strict=True)))
            rev_at = claimed + timedelta(seconds=2)
            self.ledger.request_reversals([PendingReversal(reversed_.transaction_id, rev_at)], now)
            self.ledger.acknowledge_reversals([reversed_.transaction_id], now)
            for e in outcomes:
                publisher.publish(self.topics.processed, e.transaction_id, e.to_json(), [])
            self.webhooks(
                outcomes[0], [(500, None), (None, f"reset by peer {HOSTILE}"), (200, None)]
            )
            self.webhooks(outcomes[1], [(200, None)])
            self.webhooks(outcomes[2], [(503, None)])
            letters = self.dead_letters(publisher, featured)
        finally:
            publisher.close()
        return Seeded(
            shop,
            traffic_shop,
            featured.transaction_id,
            declined.transaction_id,
            reversed_.transaction_id,
            processing.transaction_id,
            pending.transaction_id,
            traffic,
            letters,
        )

    def webhooks(
        self, event: PaymentProcessed, results: Sequence[tuple[int | None, str | None]]
    ) -> Delivery:
        d = new_delivery(event, event.processed_at)
        self.deliveries.create_all([d])
        at = event.processed_at
        for code, error in results:
            at += timedelta(milliseconds=120)
            d = after_attempt(d, DeliveryAttempt(at, code, error, 35.0), SCHEDULE)
            self.deliveries.record_all([d], indexed=True)
        return d

    def dead_letters(self, publisher: KafkaEventPublisher, r: PaymentRequested) -> list[str]:
        for condition, offset in ((POISON, 3), (RETRIES_EXHAUSTED, 4)):
            record = KafkaRecord.model_validate(
                encode_record(
                    topic=self.topics.requested,
                    partition=0,
                    offset=offset,
                    timestamp_ms=0,
                    key=r.transaction_id.encode(),
                    value=r.to_json(),
                )
            )
            dead_letter(
                publisher,
                f"{self.topics.requested}.dlq",
                record,
                reason=f"PermanentError: {HOSTILE}",
                condition=condition,
                function="ProcessFunction",
            )
        return [f"{self.topics.requested}.dlq/0/0", f"{self.topics.requested}.dlq/0/1"]

    # -- ten minutes of earlier traffic -------------------------------------------------

    def seed_traffic(self, merchant_id: str, now: datetime) -> int:
        """Succeeded payments over the last ten minutes, a varying number every 10 s, each
        settled ~60 ms after it was accepted and its webhook delivered 100-400 ms later."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5})
        count = 0
        requests, outcomes, deliveries = [], [], []
        for bucket in range(58):
            start = now - timedelta(seconds=590 - bucket * 10)
            for k in range(3 + round(3 * math.sin(bucket / 6) + 3)):
                at = start + timedelta(milliseconds=400 * k)
                r = self.request(merchant_id, at)
                claimed = at + timedelta(milliseconds=20)
                e = self.outcome(
                    r,
                    "succeeded",
                    at + timedelta(milliseconds=60),
                    claimed,
                    [BankAttempt(claimed, 35.0, "approved")],
                )
                delivered = e.processed_at + timedelta(milliseconds=100 + 30 * (bucket % 11))
                d = new_delivery(e, e.processed_at)
                deliveries.append(
                    (d, after_attempt(d, DeliveryAttempt(delivered, 200, None, 20.0), SCHEDULE))
                )
                requests.append(r)
                outcomes.append(e)
                for topic, event in ((self.topics.requested, r), (self.topics.processed, e)):
                    ms = int((r.occurred_at if event is r else e.processed_at).timestamp() * 1000)
                    producer.produce(topic, event.to_json(), r.transaction_id, timestamp=ms)
                count += 1
        entries = self.ledger.claim_all(requests, now)
        self.ledger.record_outcomes(list(zip(entries, outcomes, strict=True)))
        self.deliveries.create_all([d for d, _ in deliveries])
        self.deliveries.record_all([done for _, done in deliveries], indexed=False)
        assert producer.flush(30) == 0
        return count


@contextmanager
def dashboard_server(infra: InfraSettings) -> Iterator[str]:
    """The dashboard app under uvicorn in a thread, on a free port."""
    config = uvicorn.Config(
        create_dashboard_app(infra, max_age_s=0.5),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "dashboard did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
