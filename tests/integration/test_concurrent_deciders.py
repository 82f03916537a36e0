"""Two deciders at the same moment (DESIGN.md §8): every decision is an insert against a
deterministic `_id`, so whichever runs first wins and the other follows it, on the real
Kafka, MongoDB-wire server, Redis, bank simulator and webhook receiver."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pymongo
import pytest
import requests

from common.adapters.mongo_payment_ledger import MongoPaymentLedger
from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.domain.payment import PaymentStatus
from common.domain.ports import Outcome
from common.domain.webhooks import webhook_id
from functions.notify import deps as notify_deps
from functions.process.service import processed_event
from harness.infra.settings import InfraSettings
from harness.local_env import function_env
from harness.scheduler import scheduled_event
from tests.integration.intake_support import end_offsets, read_since
from tests.integration.process_support import (
    Context,
    invoke_in_own_process,
    kafka_event,
    process_handler,
    request,
    reset_bank_breaker,
    short_budget_settings,
)
from tests.integration.test_notify import DB as NOTIFY_DB
from tests.integration.test_notify import delivery, notify_handler, processed, received, shop

__all__ = ["shop"]  # the fixture, shared with test_notify


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls on threads released by one barrier; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def published_for(infra: InfraSettings, start: dict[int, int], tx: str) -> list[bytes]:
    return [
        m.value() for m in read_since(infra, "payments.processed", start) if m.key() == tx.encode()
    ]


def assert_decided_once(infra: InfraSettings, bank: str, tx: str, start: dict[int, int]) -> None:
    seen = requests.get(f"{bank}/v1/authorizations/{tx}", timeout=5).json()
    assert seen["calls"] == 2 and seen["decisions"] == 1  # both asked, one authorization
    db = pymongo.MongoClient(infra.mongo_uri, tz_aware=True).paygate
    record = MongoPaymentReader(db).get(tx)
    assert record is not None and record.status is PaymentStatus.SUCCEEDED
    events = published_for(infra, start, tx)
    assert len(events) == 2 and events[0] == events[1]  # each published the recorded one


def test_two_invocations_on_threads_make_one_authorization_and_one_outcome(
    infra: InfraSettings, bank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests.put(f"{bank}/control", json={"latencyMs": 200}, timeout=5)
    req = request("4242424242424242")
    start = end_offsets(infra, "payments.processed")
    with process_handler(monkeypatch, bank) as handler:
        results = at_once(
            *[lambda: handler(kafka_event(req.to_json()), Context()) for _ in range(2)]
        )
    assert results == [{"batchItemFailures": []}] * 2
    assert_decided_once(infra, bank, req.transaction_id, start)


def test_two_execution_environments_make_one_authorization_and_one_outcome(
    infra: InfraSettings, bank: str
) -> None:
    requests.put(f"{bank}/control", json={"latencyMs": 200}, timeout=5)
    reset_bank_breaker()
    req = request("4242424242424242")
    start = end_offsets(infra, "payments.processed")
    environment = {**function_env("ProcessFunction"), **short_budget_settings(bank)}
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    start_at = time.time() + 8  # both have imported the handler by then
    procs = [
        ctx.Process(
            target=invoke_in_own_process,
            args=(environment, kafka_event(req.to_json()), start_at, results),
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    answers = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    assert answers == [{"batchItemFailures": []}] * 2
    assert_decided_once(infra, bank, req.transaction_id, start)


def test_a_recorded_outcome_is_published_after_a_crash_even_with_the_bank_down(
    infra: InfraSettings, bank: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first decider recorded `succeeded`, then died before publishing; the redelivery
    meets a bank outage and must publish what was recorded, not decide `failed`."""
    req = request("4242424242424242")
    db = pymongo.MongoClient(infra.mongo_uri, tz_aware=True).paygate
    ledger = MongoPaymentLedger(db)
    entry = ledger.claim_all([req], datetime.now(UTC))[0]
    approved = Outcome(PaymentStatus.SUCCEEDED, bank_reference="auth_before_crash")
    event = processed_event(req, approved, [], entry.claimed_at, entry.claimed_at)
    ledger.record_outcomes([(entry, event)])
    requests.put(f"{bank}/control", json={"outage": True}, timeout=5)
    start = end_offsets(infra, "payments.processed")
    with process_handler(monkeypatch, bank) as handler:
        assert handler(kafka_event(req.to_json()), Context()) == {"batchItemFailures": []}
    assert published_for(infra, start, req.transaction_id) == [event.to_json()]
    assert requests.get(f"{bank}/stats", timeout=5).json()["calls"] == 0


def test_two_scheduled_runs_at_once_send_each_attempt_once(
    infra: InfraSettings,
    receiver_url: str,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = [processed(*shop) for _ in range(6)]
    with notify_handler(monkeypatch) as handler:
        service = notify_deps.notify_runtime().service
        for e in events:
            assert service.accept(e, send_now=False) is None  # due at once, for the schedule
        runs = at_once(*[lambda: handler(scheduled_event("test"), Context()) for _ in range(2)])
    assert sum(r["due"] for r in runs) == len(events)
    for e in events:
        assert len(received(receiver_url, transactionId=e.transaction_id)) == 1
        assert delivery(infra, e.transaction_id).status == "delivered"


def test_a_resend_while_an_attempt_is_in_flight_loses_neither_record(
    infra: InfraSettings,
    receiver_url: str,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mid, url = shop
    requests.put(
        f"{receiver_url}/control",
        json={"merchantId": mid, "failNext": 1, "status": 500, "hangSeconds": 1.5},
        timeout=5,
    )
    event = processed(mid, url)
    wid = webhook_id(event.transaction_id)
    store = MongoWebhookDeliveries(pymongo.MongoClient(infra.mongo_uri, tz_aware=True)[NOTIFY_DB])
    with notify_handler(monkeypatch) as handler:
        batch = threading.Thread(
            target=handler,
            args=(kafka_event(event.to_json(), topic="payments.processed"), Context()),
        )
        batch.start()  # its first attempt hangs 1.5 s, then gets a 500
        deadline = time.monotonic() + 5
        while store.get(wid) is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        resent = store.reschedule(wid, datetime.now(UTC))
        assert resent is not None and resent.round == 1
        batch.join(10)
        first_round = pymongo.MongoClient(infra.mongo_uri)[NOTIFY_DB].webhook_attempts.find_one(
            {"_id": f"{wid}#0#1"}
        )
        assert first_round is not None and first_round["statusCode"] == 500
        handler(scheduled_event("test"), Context())
    after = delivery(infra, event.transaction_id)
    assert (after.round, after.status, [a.status_code for a in after.attempts]) == (
        1,
        "delivered",
        [204],
    )
    codes = [
        r["status_answered"] for r in received(receiver_url, transactionId=event.transaction_id)
    ]
    assert sorted(codes) == [204, 500]
