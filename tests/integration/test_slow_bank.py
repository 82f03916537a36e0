"""A slow or silent bank holds up no one and takes no money it shouldn't (issue 14): the process
handler on real Kafka, Redis, the MongoDB-wire server and the bank simulator."""

from __future__ import annotations

import time
from typing import Any

import pymongo
import pytest
import requests

from common.adapters.mongo_payment_ledger import REVERSALS_DUE
from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.domain.events import PaymentProcessed, PaymentRequested, parse_event
from common.domain.payment import PaymentRecord
from common.lambda_kafka import encode_event, encode_record
from functions.process.service import RETRY_DUE_HEADER
from harness.infra.settings import InfraSettings
from harness.scheduler import scheduled_event
from tests.integration.intake_support import end_offsets, read_since
from tests.integration.process_support import (
    RETRY_TOPIC,
    Context,
    process_handler,
    request,
    retry_event,
)

LATE = "4000000000000259"
VISA = "4242424242424242"


def one_partition(*reqs: PaymentRequested) -> dict[str, Any]:
    records = [
        encode_record(
            topic="payments.requested",
            partition=0,
            offset=100 + i,
            timestamp_ms=1,
            key=r.transaction_id.encode(),
            value=r.to_json(),
        )
        for i, r in enumerate(reqs)
    ]
    return encode_event(records, "127.0.0.1:9092")


def payment(infra: InfraSettings, tx: str) -> PaymentRecord:
    db = pymongo.MongoClient(infra.mongo_uri, tz_aware=True).paygate
    record = MongoPaymentReader(db).get(tx)
    assert record is not None
    return record


def at_bank(bank: str, tx: str) -> dict[str, Any]:
    answer: dict[str, Any] = requests.get(f"{bank}/v1/authorizations/{tx}", timeout=5).json()
    return answer


def test_a_silent_payment_is_parked_while_its_partitions_healthy_ones_are_published(
    infra: InfraSettings, bank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow, healthy = request(LATE), [request(VISA) for _ in range(3)]
    processed, parked = end_offsets(infra, "payments.processed"), end_offsets(infra, RETRY_TOPIC)
    with process_handler(monkeypatch, bank, BANK_RETRY_BUDGET_S="20") as handler:
        started = time.monotonic()
        result = handler(one_partition(slow, *healthy), Context())
        elapsed = time.monotonic() - started
    # the whole batch is finished (committed): the slow one waits elsewhere
    assert result == {"batchItemFailures": []}
    assert elapsed < 0.5 + 1.5  # the batch's patience (500 ms), not the budget
    out = {m.key().decode(): m for m in read_since(infra, "payments.processed", processed)}
    for r in healthy:
        assert parse_event(PaymentProcessed, out[r.transaction_id].value()).status == "succeeded"
    assert slow.transaction_id not in out
    (waiting,) = [
        m for m in read_since(infra, RETRY_TOPIC, parked) if m.key() == slow.transaction_id.encode()
    ]
    assert parse_event(PaymentRequested, waiting.value()) == slow
    due_ms = int(dict(waiting.headers())[RETRY_DUE_HEADER])
    assert -500 < due_ms - waiting.timestamp()[1] <= 1000  # due BANK_RETRY_DELAY_S later
    assert payment(infra, slow.transaction_id).status == "processing"


def test_the_late_approval_is_failed_and_reversed_and_a_reversal_the_bank_missed_is_sent_again(
    infra: InfraSettings, bank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = request(LATE)
    parked = end_offsets(infra, RETRY_TOPIC)
    with process_handler(monkeypatch, bank, BANK_RETRY_BUDGET_S="1") as handler:
        assert handler(one_partition(slow), Context()) == {"batchItemFailures": []}
        waiting = [
            m
            for m in read_since(infra, RETRY_TOPIC, parked)
            if m.key() == slow.transaction_id.encode()
        ]
        assert len(waiting) == 1
        # the bank goes down before the payment's last pass: its budget runs out, it is
        # failed at once, and the reversal cannot be sent
        requests.put(f"{bank}/control", json={"outage": True}, timeout=5).raise_for_status()
        assert handler(retry_event(waiting), Context()) == {"batchItemFailures": []}
        failed = payment(infra, slow.transaction_id)
        assert (failed.status, failed.failure_reason) == ("failed", "bank_unavailable")
        assert failed.reversal is not None and failed.reversal.acknowledged_at is None
        assert at_bank(bank, slow.transaction_id)["reversed"] is False
        db = pymongo.MongoClient(infra.mongo_uri, tz_aware=True).paygate
        assert db[REVERSALS_DUE].find_one({"_id": slow.transaction_id}) is not None
        requests.put(f"{bank}/control", json={"outage": False}, timeout=5).raise_for_status()
        # pending reversals are retried every 10 s: let the due time pass, then the schedule
        deadline = time.monotonic() + 30
        while db[REVERSALS_DUE].find_one({"_id": slow.transaction_id}) is not None:
            assert time.monotonic() < deadline, "the reversal was never sent again"
            handler(scheduled_event("PendingReversals"), Context())
            time.sleep(1)
    after = payment(infra, slow.transaction_id)
    assert after.status == "failed" and after.reversal is not None
    assert after.reversal.acknowledged_at is not None
    answer = at_bank(bank, slow.transaction_id)
    assert answer["reversed"] is True
    # and when the late approval lands (30 s after the call) it is void: nothing charged
    stats = requests.get(f"{bank}/stats", timeout=5).json()
    assert stats["charged"] == 0
