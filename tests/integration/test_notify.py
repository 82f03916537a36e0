"""The notify Lambda handler on real Kafka, Redis, MongoDB wire and the demo receiver."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pymongo
import pytest
import requests

from common.adapters.merchant_registry import API_KEYS, MERCHANTS
from common.adapters.mongo_webhook_deliveries import MongoWebhookDeliveries
from common.config import notify_settings
from common.domain.events import PaymentProcessed
from common.domain.payment import CardSummary
from common.domain.webhooks import Delivery, webhook_id
from functions.notify import deps
from functions.notify.handler import lambda_handler
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from harness.local_env import function_env
from harness.scheduler import scheduled_event
from tests.integration.intake_support import end_offsets, function_under_test, read_since
from tests.integration.process_support import Context, kafka_event

DB = f"test_notify_{uuid.uuid4().hex[:8]}"
"""Deliveries of these tests live apart: the scheduled run takes the oldest due first, and
a shared database may hold others'."""


@pytest.fixture(scope="module", autouse=True)
def own_database(infra: InfraSettings) -> Iterator[None]:
    yield
    pymongo.MongoClient(infra.mongo_uri).drop_database(DB)


@contextmanager
def notify_handler(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> Iterator[Any]:
    settings = {
        "WEBHOOK_RETRY_SCHEDULE_S": "1,1,1",
        "WEBHOOK_TIMEOUT_S": "2",
        "MONGO_DATABASE": DB,
        **overrides,
    }
    with function_under_test(
        monkeypatch, "NotifyFunction", settings, notify_settings, deps.notify_runtime
    ):
        yield lambda_handler


def processed(merchant_id: str, url: str, status: str = "succeeded") -> PaymentProcessed:
    tx = str(uuid.uuid4())
    now = datetime.now(UTC)
    return PaymentProcessed(
        event_id=str(uuid.uuid4()),
        occurred_at=now,
        transaction_id=tx,
        merchant_id=merchant_id,
        status=status,
        amount_minor=4999,
        currency="EUR",
        reference="order-9",
        webhook_url=url,
        card=CardSummary(
            brand="visa", last4="4242", exp_month=12, exp_year=2030, fingerprint="fp_x"
        ),
        decline_code="card_declined" if status == "declined" else None,
        attempts=1,
        created_at=now,
        processed_at=now,
    )


def received(receiver: str, **params: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = requests.get(
        f"{receiver}/received", params=params, timeout=5
    ).json()
    return rows


def delivery(infra: InfraSettings, tx: str) -> Delivery:
    """The delivery as its recorded attempts leave it."""
    db = pymongo.MongoClient(infra.mongo_uri, tz_aware=True)[DB]
    found = MongoWebhookDeliveries(db).get(webhook_id(tx))
    assert found is not None
    return found


def run_schedule_until_final(handler: Any, infra: InfraSettings, tx: str) -> None:
    """Fire the scheduled run, as the harness would, until the delivery is final."""
    deadline = time.monotonic() + 20
    while delivery(infra, tx).status == "scheduled":
        assert time.monotonic() < deadline
        time.sleep(0.3)
        handler(scheduled_event("test"), Context())


def register(infra: InfraSettings, receiver_url: str, name: str) -> tuple[str, str]:
    """A merchant in the registry the receiver reads (the default database) and, the same
    records, in this module's database, where notify reads its webhook secret: (merchant id,
    its webhook URL)."""
    new = merchant_directory(infra).create(name)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(infra.mongo_uri)
    shared = client[function_env("NotifyFunction", infra)["MONGO_DATABASE"]]
    for collection, key in ((MERCHANTS, "_id"), (API_KEYS, "merchantId")):
        client[DB][collection].insert_many(list(shared[collection].find({key: new.merchant_id})))
    client.close()
    return new.merchant_id, f"{receiver_url}/hooks/{new.merchant_id}"


@pytest.fixture
def shop(infra: InfraSettings, receiver_url: str) -> tuple[str, str]:
    return register(infra, receiver_url, "Notify Shop")


def test_a_signed_webhook_is_delivered_once_even_when_redelivered(
    infra: InfraSettings,
    receiver_url: str,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mid, url = shop
    event = processed(mid, url, "declined")
    with notify_handler(monkeypatch) as handler:
        for _ in range(2):  # the second time: a redelivery of the same record
            assert handler(kafka_event(event.to_json(), topic="payments.processed"), Context()) == {
                "batchItemFailures": []
            }
    rows = received(receiver_url, transactionId=event.transaction_id)
    assert len(rows) == 1
    assert rows[0]["verified"] and rows[0]["type"] == "payment.declined"
    assert rows[0]["webhook_id"] == webhook_id(event.transaction_id)
    found = delivery(infra, event.transaction_id)
    assert found.status == "delivered" and len(found.attempts) == 1


def test_three_500s_then_delivered_on_the_fourth_with_the_same_id(
    infra: InfraSettings,
    receiver_url: str,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mid, url = shop
    requests.put(
        f"{receiver_url}/control", json={"merchantId": mid, "failNext": 3, "status": 500}, timeout=5
    )
    event = processed(mid, url)
    with notify_handler(monkeypatch) as handler:
        handler(kafka_event(event.to_json(), topic="payments.processed"), Context())
        run_schedule_until_final(handler, infra, event.transaction_id)
    rows = received(receiver_url, transactionId=event.transaction_id)
    assert [(r["attempt"], r["status_answered"]) for r in rows] == [
        (1, 500),
        (2, 500),
        (3, 500),
        (4, 204),
    ]
    assert {r["webhook_id"] for r in rows} == {webhook_id(event.transaction_id)}
    assert all(r["verified"] for r in rows)
    found = delivery(infra, event.transaction_id)
    assert found.status == "delivered"
    assert [a.status_code for a in found.attempts] == [500, 500, 500, 204]


def test_exhausted_deliveries_fail_and_are_dead_lettered(
    infra: InfraSettings,
    receiver_url: str,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mid, url = shop
    requests.put(
        f"{receiver_url}/control",
        json={"merchantId": mid, "failNext": 99, "status": 503},
        timeout=5,
    )
    event = processed(mid, url)
    start = end_offsets(infra, "webhooks.dlq")
    with notify_handler(monkeypatch, WEBHOOK_RETRY_SCHEDULE_S="0.2,0.2") as handler:
        handler(kafka_event(event.to_json(), topic="payments.processed"), Context())
        run_schedule_until_final(handler, infra, event.transaction_id)
    assert delivery(infra, event.transaction_id).status == "failed"
    assert len(received(receiver_url, transactionId=event.transaction_id)) == 3
    dead = [
        m
        for m in read_since(infra, "webhooks.dlq", start)
        if m.key() == event.transaction_id.encode()
    ]
    assert len(dead) == 1


def test_private_addresses_are_refused_at_delivery_when_not_allowed(
    infra: InfraSettings,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mid, url = shop
    event = processed(mid, url)
    with notify_handler(monkeypatch, ALLOW_PRIVATE_WEBHOOK_URLS="false") as handler:
        handler(kafka_event(event.to_json(), topic="payments.processed"), Context())
    attempt = delivery(infra, event.transaction_id).attempts[0]
    assert attempt.status_code is None and attempt.error is not None
    assert attempt.error.startswith("refused:")


def hanging_beside_healthy(
    infra: InfraSettings, receiver_url: str, shop: tuple[str, str], hangs: int, hang_s: float
) -> tuple[str, str]:
    """The shop's endpoint hangs `hang_s` for its next `hangs` webhooks; a second merchant's,
    returned like `shop` (merchant id, webhook URL), answers at once."""
    requests.put(
        f"{receiver_url}/control",
        json={"merchantId": shop[0], "failNext": hangs, "status": 200, "hangSeconds": hang_s},
        timeout=5,
    )
    return register(infra, receiver_url, "Healthy Shop")


def test_a_hanging_merchant_does_not_hold_up_a_healthy_one(
    infra: InfraSettings,
    receiver_url: str,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    healthy = hanging_beside_healthy(infra, receiver_url, shop, hangs=1, hang_s=3)
    slow, fast = processed(*shop), processed(*healthy)
    with notify_handler(monkeypatch, WEBHOOK_TIMEOUT_S="10") as handler:
        started = time.time()
        handler(kafka_event(slow.to_json(), fast.to_json(), topic="payments.processed"), Context())
    (fast_row,) = received(receiver_url, transactionId=fast.transaction_id)
    assert fast_row["received_at"] - started < 2  # not behind the 3 s hang
    assert delivery(infra, slow.transaction_id).status == "delivered"


def test_after_a_timeout_batches_stop_waiting_for_that_merchant_until_it_answers(
    infra: InfraSettings,
    receiver_url: str,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    healthy = hanging_beside_healthy(infra, receiver_url, shop, hangs=2, hang_s=6)
    first, second, fast = processed(*shop), processed(*shop), processed(*healthy)
    with notify_handler(monkeypatch, WEBHOOK_TIMEOUT_S="3") as handler:
        handler(kafka_event(first.to_json(), topic="payments.processed"), Context())
        assert delivery(infra, first.transaction_id).attempts[0].error == "timeout"
        started = time.monotonic()
        handler(
            kafka_event(second.to_json(), fast.to_json(), topic="payments.processed", start=1),
            Context(),
        )
        assert time.monotonic() - started < 2.5  # did not wait out a 3 s timeout
        assert received(receiver_url, transactionId=fast.transaction_id)
        left = delivery(infra, second.transaction_id)
        assert left.status == "scheduled" and left.attempts == ()  # due, for the schedule
        run_schedule_until_final(handler, infra, second.transaction_id)
        run_schedule_until_final(handler, infra, first.transaction_id)
    assert delivery(infra, second.transaction_id).status == "delivered"
    assert delivery(infra, first.transaction_id).status == "delivered"


def test_a_corrupt_event_is_dead_lettered_and_the_rest_delivered(
    infra: InfraSettings,
    receiver_url: str,
    shop: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mid, url = shop
    good = processed(mid, url)
    bad = processed(mid, url).model_copy(update={"currency": "ZZZ"})  # passes the schema only
    start = end_offsets(infra, "payments.processed.dlq")
    with notify_handler(monkeypatch) as handler:
        result = handler(
            kafka_event(bad.to_json(), b"{garbage", good.to_json(), topic="payments.processed"),
            Context(),
        )
    assert result == {"batchItemFailures": []}
    assert delivery(infra, good.transaction_id).status == "delivered"
    dead = read_since(infra, "payments.processed.dlq", start)
    assert sorted(m.value() for m in dead) == sorted([bad.to_json(), b"{garbage"])
    assert all(dict(m.headers())["dlq.condition"] == b"PoisonRecord" for m in dead)
