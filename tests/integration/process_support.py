"""Helpers for process-function integration tests: real-shaped requests and invocations."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from common.adapters.redis_connection import BANK_BREAKER_NAMESPACE, redis_client
from common.config import process_settings
from common.domain.events import CardToken, PaymentRequested
from common.lambda_kafka import encode_event, encode_record
from common.security.card_vault import CardVault
from common.security.keyed_hash import KeyedHasher
from common.security.sealed_box import SealedBox, decode_key
from functions.process import deps
from functions.process.handler import lambda_handler
from harness.local_env import function_env
from tests.integration.intake_support import end_offsets, function_under_test, read_since


@contextmanager
def process_handler(
    monkeypatch: pytest.MonkeyPatch, bank_url: str, **overrides: str
) -> Iterator[Any]:
    """The real process handler, with short bank timeouts and budgets for tests, and the
    shared breaker closed (its state lives in Redis and outlives any earlier run)."""
    reset_bank_breaker()
    with function_under_test(
        monkeypatch,
        "ProcessFunction",
        short_budget_settings(bank_url, **overrides),
        process_settings,
        deps.process_runtime,
    ):
        yield lambda_handler


def short_budget_settings(bank_url: str, **overrides: str) -> dict[str, str]:
    """Short bank timeouts and budgets for tests."""
    return {
        "BANK_URL": bank_url,
        "BANK_TIMEOUT_MS": "500",
        "BANK_RETRY_BUDGET_S": "4",
        "BREAKER_MINIMUM_THROUGHPUT": "50",
        "BREAKER_BREAK_S": "1",
        **overrides,
    }


def invoke_in_own_process(
    environment: dict[str, str], event: dict[str, Any], start_at: float, results: Any
) -> None:
    """A second execution environment (multiprocessing, spawn): the process function with
    this environment, invoked once at `start_at` (time.time()); its result to `results`."""
    os.environ.update(environment)  # read on first use: nothing happens at import
    time.sleep(max(0.0, start_at - time.time()))
    results.put(lambda_handler(event, Context()))


def reset_bank_breaker() -> None:
    client = redis_client(function_env("ProcessFunction")["REDIS_URL"])
    for key in client.scan_iter(f"{BANK_BREAKER_NAMESPACE}*"):
        client.delete(key)


def vault() -> CardVault:
    key = decode_key(function_env("ProcessFunction")["DATA_ENCRYPTION_KEY"])
    return CardVault(SealedBox(key), KeyedHasher(bytes(32)))


def request(number: str, merchant: str = "mer_test") -> PaymentRequested:
    tx = str(uuid.uuid4())
    return PaymentRequested(
        event_id=str(uuid.uuid4()),
        occurred_at=datetime.now(UTC),
        transaction_id=tx,
        merchant_id=merchant,
        amount_minor=4999,
        currency="EUR",
        reference=f"order-{tx[:6]}",
        webhook_url="http://127.0.0.1:8082/hooks",
        card=CardToken(
            token=vault().tokenize(number, tx),
            brand="visa",
            last4=number[-4:],
            exp_month=12,
            exp_year=2030,
            fingerprint="fp_test",
        ),
    )


class Context:
    def __init__(self, seconds: float = 60) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return int((self._deadline - time.monotonic()) * 1000)


def kafka_event(
    *values: bytes, topic: str = "payments.requested", start: int = 0
) -> dict[str, Any]:
    records = [
        encode_record(
            topic=topic, partition=i % 2, offset=start + i, timestamp_ms=1, key=b"k", value=v
        )
        for i, v in enumerate(values)
    ]
    return encode_event(records, "127.0.0.1:9092")


RETRY_TOPIC = "payments.requested.retry"


def retry_event(messages: list[Any]) -> dict[str, Any]:
    """Records read from the retry topic (confluent-kafka messages), in Lambda's shape."""
    records = [
        encode_record(
            topic=str(m.topic()),
            partition=int(m.partition()),
            offset=int(m.offset()),
            timestamp_ms=m.timestamp()[1],
            key=m.key(),
            value=m.value(),
            headers=[(k, v or b"") for k, v in (m.headers() or [])],
        )
        for m in messages
    ]
    return encode_event(records, "127.0.0.1:9092")


def settle(
    handler: Any, infra: Any, event: dict[str, Any], timeout_s: float = 60
) -> list[dict[str, Any]]:
    """Invoke the handler with `event`, then with what it parked on the retry topic, and so
    on, the way the retry topic's event source mapping would, until nothing more is parked.
    Every invocation's result, in order."""
    start = end_offsets(infra, RETRY_TOPIC)
    results = [handler(event, Context())]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        parked = read_since(infra, RETRY_TOPIC, start)
        if not parked:
            return results
        start = end_offsets(infra, RETRY_TOPIC)
        results.append(handler(retry_event(parked), Context()))
    raise AssertionError("payments kept being parked")
