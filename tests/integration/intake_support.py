"""Helpers for intake integration tests: the handler under a local env, topic readers."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from common.config import intake_settings
from functions.intake import deps
from functions.intake.handler import lambda_handler
from harness.apigw_events import HttpResponse, http_api_event, http_response
from harness.infra.settings import InfraSettings
from harness.local_env import function_env


@contextmanager
def intake_handler(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> Iterator[Any]:
    """The real Lambda handler, with the environment the harness gives it (plus overrides)."""
    with function_under_test(
        monkeypatch, "IntakeFunction", overrides, intake_settings, deps.intake_runtime
    ):
        yield lambda_handler


@contextmanager
def function_under_test(
    monkeypatch: pytest.MonkeyPatch,
    function: str,
    overrides: dict[str, str],
    settings_factory: Any,
    runtime_factory: Any,
) -> Iterator[None]:
    """A function's environment set, its cached settings and runtime rebuilt for the test,
    and its Kafka producer flushed and dropped afterwards."""
    for name, value in {**function_env(function), **overrides}.items():
        monkeypatch.setenv(name, value)
    settings_factory.cache_clear()
    runtime_factory.cache_clear()
    try:
        yield
    finally:
        runtime = runtime_factory()
        if "publisher" in runtime.__dict__:
            runtime.publisher.close(5)
        settings_factory.cache_clear()
        runtime_factory.cache_clear()


class LambdaContext:
    function_name = "IntakeFunction"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:local:000000000000:function:IntakeFunction"
    aws_request_id = "test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def call(
    handler: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> HttpResponse:
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    hdrs = {"content-type": "application/json", **(headers or {})}
    event = http_api_event(method=method, raw_path=path, headers=hdrs.items(), body=raw)
    return http_response(handler(event, LambdaContext()))


def payment(number: str = "4242424242424242", cvc: str = "123", **extra: Any) -> dict[str, Any]:
    return {
        "amount": "49.99",
        "currency": "EUR",
        "webhookUrl": "http://127.0.0.1:8082/hooks",
        "reference": f"order-{uuid.uuid4().hex[:8]}",
        "card": {"number": number, "expMonth": 12, "expYear": 2030, "cvc": cvc},
        **extra,
    }


def end_offsets(infra: InfraSettings, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": infra.kafka_bootstrap, "group.id": "probe"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def read_since(infra: InfraSettings, topic: str, start: dict[int, int]) -> list[Any]:
    """Every message appended to `topic` after `start`, up to the end offsets now."""
    end = end_offsets(infra, topic)
    c = Consumer(
        {
            "bootstrap.servers": infra.kafka_bootstrap,
            "group.id": f"t-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, p, off) for p, off in start.items() if end[p] > off])
    want = sum(end[p] - start[p] for p in start)
    got: list[Any] = []
    deadline = time.monotonic() + 15
    while len(got) < want and time.monotonic() < deadline:
        for m in c.consume(500, timeout=0.5):
            if m.error() is None:
                got.append(m)
    c.close()
    return got
