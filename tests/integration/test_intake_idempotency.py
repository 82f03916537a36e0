"""Intake never answers wrong about money, on the real Kafka, Redis and MongoDB-wire server:
an acknowledgment that comes too late is settled in the ledger before the answer, and an
Idempotency-Key whose record is gone neither swallows a payment nor charges one twice."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pymongo
import pytest
import redis
import requests

from common.adapters.mongo_payment_reader import MongoPaymentReader
from common.adapters.redis_intake_records import idempotency_key
from harness.infra.native import native_services
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from tests.integration.intake_support import call, end_offsets, intake_handler, payment, read_since
from tests.integration.process_support import Context, kafka_event, process_handler

TOPIC = "payments.requested"


@pytest.fixture
def merchant(infra: InfraSettings) -> dict[str, str]:
    new = merchant_directory(infra).create("Idempotency Shop")
    return {"id": new.merchant_id, "key": new.api_key}


def published(infra: InfraSettings, start: dict[int, int], tx: str) -> list[bytes]:
    return [m.value() for m in read_since(infra, TOPIC, start) if m.key() == tx.encode()]


def process(monkeypatch: pytest.MonkeyPatch, bank: str, *values: bytes) -> None:
    with process_handler(monkeypatch, bank) as handler:
        assert handler(kafka_event(*values), Context()) == {"batchItemFailures": []}


def bank_calls(bank: str, tx: str) -> int:
    r = requests.get(f"{bank}/v1/authorizations/{tx}", timeout=5)
    return int(r.json()["calls"]) if r.status_code == 200 else 0


def status_of(infra: InfraSettings, tx: str) -> str | None:
    record = MongoPaymentReader(pymongo.MongoClient(infra.mongo_uri, tz_aware=True).paygate).get(tx)
    return None if record is None else record.status.value


@pytest.fixture
def kafka_pid(infra: InfraSettings) -> Iterator[int]:
    (kafka,) = [s for s in native_services(infra) if s.name == "kafka"]
    pid = kafka.process.pid()
    assert pid is not None, "the local Kafka broker is not running"
    yield pid
    os.kill(pid, signal.SIGCONT)  # whatever the test did


def test_an_acknowledgment_too_late_is_voided_503_and_never_charged_while_the_retry_is(
    infra: InfraSettings,
    monkeypatch: pytest.MonkeyPatch,
    merchant: dict[str, str],
    bank: str,
    kafka_pid: int,
) -> None:
    headers = {"x-api-key": merchant["key"], "idempotency-key": f"doubt-{time.time_ns()}"}
    body = payment()
    start = end_offsets(infra, TOPIC)
    with intake_handler(monkeypatch, KAFKA_PUBLISH_TIMEOUT_MS="1500") as handler:
        warm = call(handler, "POST", "/api/payments", payment(), {"x-api-key": merchant["key"]})
        assert warm.status == 202  # the producer is connected
        os.kill(kafka_pid, signal.SIGSTOP)  # the broker takes the request and answers nothing
        try:
            refused = call(handler, "POST", "/api/payments", body, headers)
        finally:
            os.kill(kafka_pid, signal.SIGCONT)
        assert refused.status == 503, refused.body
        assert "nothing was accepted" in json.loads(refused.body)["detail"]
        warm_tx = json.loads(warm.body)["transactionId"].encode()
        kept: list[bytes] = []
        deadline = time.monotonic() + 30
        while not kept and time.monotonic() < deadline:  # the broker wrote it all the same
            kept = [m.value() for m in read_since(infra, TOPIC, start) if m.key() != warm_tx]
            time.sleep(0.5)
        assert len(kept) == 1, "the broker did not keep the message: nothing was in doubt"
        tx = json.loads(kept[0])["transactionId"]
        process(monkeypatch, bank, kept[0])
        assert bank_calls(bank, tx) == 0 and status_of(infra, tx) is None  # voided: no payment

        with intake_handler(monkeypatch) as retry_handler:
            retry = call(retry_handler, "POST", "/api/payments", body, headers)
        assert retry.status == 202 and json.loads(retry.body)["transactionId"] == tx
    again = published(infra, start, tx)
    assert len(again) == 2
    process(monkeypatch, bank, again[1], again[0])  # the retry first, then a redelivery
    assert bank_calls(bank, tx) == 1 and status_of(infra, tx) == "succeeded"


def test_after_the_key_record_is_gone_a_replay_is_charged_once_and_another_body_is_paid(
    infra: InfraSettings,
    monkeypatch: pytest.MonkeyPatch,
    merchant: dict[str, str],
    bank: str,
    redis_client: redis.Redis,
) -> None:
    key = f"lost-{time.time_ns()}"
    headers = {"x-api-key": merchant["key"], "idempotency-key": key}
    body, other = payment(), payment(amount="999.00")
    start = end_offsets(infra, TOPIC)
    with intake_handler(monkeypatch) as handler:
        first = json.loads(call(handler, "POST", "/api/payments", body, headers).body)
        redis_client.delete(idempotency_key(merchant["id"], key))  # Redis lost it
        replay = call(handler, "POST", "/api/payments", body, headers)
        redis_client.delete(idempotency_key(merchant["id"], key))  # it expired
        new = call(handler, "POST", "/api/payments", other, headers)
    tx, new_tx = first["transactionId"], json.loads(new.body)["transactionId"]
    assert replay.status == 202 and json.loads(replay.body)["transactionId"] == tx
    assert new.status == 202 and new_tx != tx
    twice, once = published(infra, start, tx), published(infra, start, new_tx)
    assert len(twice) == 2 and len(once) == 1
    process(monkeypatch, bank, *twice, *once)
    assert bank_calls(bank, tx) == 1 and status_of(infra, tx) == "succeeded"
    assert bank_calls(bank, new_tx) == 1 and status_of(infra, new_tx) == "succeeded"
