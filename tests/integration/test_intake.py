"""The intake Lambda handler (via Mangum, HTTP API v2.0 events) on real Redis and Kafka."""

from __future__ import annotations

import io
import json
import logging
import time

import pytest
import redis

from common.structured_logging import JsonFormatter, RedactingFilter
from harness.infra.settings import InfraSettings
from harness.keys import merchant_directory
from tests.integration.intake_support import call, end_offsets, intake_handler, payment, read_since

TOPIC = "payments.requested"


@pytest.fixture
def merchant(infra: InfraSettings) -> dict[str, str]:
    new = merchant_directory(infra).create("Integration Shop")
    return {"id": new.merchant_id, "key": new.api_key}


def test_a_payment_lands_on_kafka_once_tokenized_and_reads_back_pending(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch, merchant: dict[str, str]
) -> None:
    start = end_offsets(infra, TOPIC)
    with intake_handler(monkeypatch) as handler:
        headers = {"x-api-key": merchant["key"], "idempotency-key": "order-77"}
        first = call(handler, "POST", "/api/payments", payment(), headers)
        # the same key with another body (payment() draws a new reference) is refused
        reused = call(handler, "POST", "/api/payments", payment(), headers)
        assert first.status == 202, first.body
        tx = json.loads(first.body)["transactionId"]
        got = call(handler, "GET", f"/api/payments/{tx}", headers={"x-api-key": merchant["key"]})
    assert got.status == 200 and json.loads(got.body)["status"] == "pending"
    assert reused.status == 422

    events = [m for m in read_since(infra, TOPIC, start) if m.key() == tx.encode()]
    assert len(events) == 1
    value = json.loads(events[0].value())
    assert value["transactionId"] == tx and value["merchantId"] == merchant["id"]
    assert value["card"]["token"].startswith("v1.") and value["card"]["last4"] == "4242"
    assert b"4242424242424242" not in events[0].value()
    assert "cvc" not in json.dumps(value)
    assert dict(events[0].headers())["eventType"] == b"PaymentRequested"


def test_replay_returns_the_same_body_and_publishes_nothing_more(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch, merchant: dict[str, str]
) -> None:
    body = payment()
    headers = {"x-api-key": merchant["key"], "idempotency-key": "replay-me"}
    start = end_offsets(infra, TOPIC)
    with intake_handler(monkeypatch) as handler:
        first = call(handler, "POST", "/api/payments", body, headers)
        again = call(handler, "POST", "/api/payments", body, headers)
    assert first.status == again.status == 202
    assert again.body == first.body
    assert ("idempotent-replayed", "true") in again.headers
    tx = json.loads(first.body)["transactionId"]
    assert len([m for m in read_since(infra, TOPIC, start) if m.key() == tx.encode()]) == 1


def test_unreachable_kafka_is_503_never_202(
    monkeypatch: pytest.MonkeyPatch, merchant: dict[str, str]
) -> None:
    with intake_handler(
        monkeypatch, KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", KAFKA_PUBLISH_TIMEOUT_MS="1000"
    ) as handler:
        r = call(handler, "POST", "/api/payments", payment(), {"x-api-key": merchant["key"]})
    assert r.status == 503
    assert dict(r.headers)["retry-after"] == "1"
    assert dict(r.headers)["content-type"] == "application/problem+json"


def test_unreachable_redis_is_503_and_nothing_is_accepted(
    monkeypatch: pytest.MonkeyPatch, merchant: dict[str, str]
) -> None:
    with intake_handler(monkeypatch, REDIS_URL="redis://127.0.0.1:1/0") as handler:
        r = call(handler, "POST", "/api/payments", payment(), {"x-api-key": merchant["key"]})
        health = call(handler, "GET", "/health")
    assert r.status == 503
    assert json.loads(r.body)["detail"].startswith("a dependency (redis)")
    assert health.status == 503
    assert json.loads(health.body)["dependencies"] == {
        "kafka": "ok",
        "redis": "unavailable",
        "mongodb": "ok",
    }


def test_a_revoked_key_stops_working_within_the_cache_bound(
    infra: InfraSettings, monkeypatch: pytest.MonkeyPatch, merchant: dict[str, str]
) -> None:
    with intake_handler(monkeypatch, API_KEY_CACHE_SECONDS="1") as handler:
        headers = {"x-api-key": merchant["key"]}
        assert call(handler, "GET", "/api/payments/none", headers=headers).status == 404
        assert merchant_directory(infra).revoke(merchant["id"]) == 1
        time.sleep(1.1)
        assert call(handler, "GET", "/api/payments/none", headers=headers).status == 401


def test_no_card_number_cvc_or_api_key_in_kafka_redis_or_logs(
    infra: InfraSettings,
    monkeypatch: pytest.MonkeyPatch,
    merchant: dict[str, str],
    redis_client: redis.Redis,
) -> None:
    pan, cvc = "5555555555554444", "739"
    log_output = io.StringIO()
    handler_for_logs = logging.StreamHandler(log_output)
    handler_for_logs.setFormatter(JsonFormatter())
    handler_for_logs.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler_for_logs)
    start = end_offsets(infra, TOPIC)
    try:
        with intake_handler(monkeypatch, LOG_LEVEL="DEBUG") as handler:
            logging.getLogger().setLevel(logging.DEBUG)
            headers = {"x-api-key": merchant["key"]}
            ok = call(handler, "POST", "/api/payments", payment(pan, cvc), headers)
            bad = call(handler, "POST", "/api/payments", payment(pan, cvc, surprise=1), headers)
            logging.getLogger("paygate.test").info("card %s key %s", pan, merchant["key"])
    finally:
        logging.getLogger().removeHandler(handler_for_logs)
    assert ok.status == 202 and bad.status == 422
    assert pan.encode() not in bad.body

    secrets = [pan.encode(), merchant["key"].encode()]
    on_kafka = b"".join(m.value() + (m.key() or b"") for m in read_since(infra, TOPIC, start))
    assert on_kafka and not any(s in on_kafka for s in secrets)
    assert f'"cvc": "{cvc}"'.encode() not in on_kafka and b'"cvc"' not in on_kafka

    dump = b""
    for key in redis_client.scan_iter(match="pg:*", count=1000):
        kind = redis_client.type(key)
        if kind == b"string":
            dump += redis_client.get(key) or b""
        elif kind == b"hash":
            dump += b"".join(k + v for k, v in redis_client.hgetall(key).items())
        elif kind == b"set":
            dump += b"".join(redis_client.smembers(key))
        dump += key
    assert dump and not any(s in dump for s in secrets)
    assert b'"cvc"' not in dump

    logs = log_output.getvalue()
    assert "request" in logs
    assert pan not in logs and merchant["key"] not in logs and "[REDACTED-PAN]" in logs
