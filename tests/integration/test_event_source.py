"""The Kafka event source emulation on real Kafka, with handlers written for the test."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from harness.event_source import MappingSpec, Poller, mapping_spec, mapping_specs
from harness.infra.settings import InfraSettings
from tests.integration.intake_support import read_since


@pytest.fixture
def topics(new_topics: Callable[[Mapping[str, int]], None]) -> tuple[str, str]:
    name = f"test.esm.{uuid.uuid4().hex[:8]}"
    dlq = f"{name}.dlq"
    new_topics({name: 2, dlq: 1})
    return name, dlq


def spec(topic: str, dlq: str, retries: int = 2, report: bool = True) -> MappingSpec:
    return MappingSpec(
        function="ProcessFunction",
        topic=topic,
        group=f"g-{uuid.uuid4().hex[:8]}",
        batch_size=50,
        window_s=0.2,
        starting_position="TRIM_HORIZON",
        max_retries=retries,
        report_item_failures=report,
        on_failure_topic=dlq,
    )


def produce(infra: InfraSettings, topic: str, n: int) -> None:
    p = Producer({"bootstrap.servers": infra.kafka_bootstrap})
    for i in range(n):
        p.produce(
            topic,
            key=f"k{i}",
            value=json.dumps({"i": i}).encode(),
            partition=i % 2,
            headers=[("h", bytes([200, 1]))],
        )
    assert p.flush(10) == 0


def drain(poller: Poller, want: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    seen = 0
    while seen < want and time.monotonic() < deadline:
        batch = poller.next_batch(first_wait_s=0.5)
        if batch:
            seen += len(batch)
            poller.deliver(batch)


def committed(infra: InfraSettings, group: str, topic: str) -> dict[int, int]:
    c = Consumer({"bootstrap.servers": infra.kafka_bootstrap, "group.id": group})
    parts = c.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=10)
    c.close()
    return {tp.partition: tp.offset for tp in parts}


def test_events_have_lambdas_shape_and_offsets_commit_after_success(
    infra: InfraSettings, topics: tuple[str, str]
) -> None:
    topic, dlq = topics
    produce(infra, topic, 10)
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert context.get_remaining_time_in_millis() > 0
        events.append(event)
        return {"batchItemFailures": []}

    s = spec(topic, dlq)
    poller = Poller(s, infra.kafka_bootstrap, handler, sleep=lambda _s: None)
    drain(poller, 10)
    records = [r for e in events for batch in e["records"].values() for r in batch]
    assert len(records) == 10
    event = events[0]
    assert event["eventSource"] == "SelfManagedKafka"
    assert event["bootstrapServers"] == infra.kafka_bootstrap
    for key, batch in event["records"].items():
        assert all(key == f"{r['topic']}-{r['partition']}" for r in batch)
        assert [r["offset"] for r in batch] == sorted(r["offset"] for r in batch)
    r = records[0]
    assert set(r) == {
        "topic",
        "partition",
        "offset",
        "timestamp",
        "timestampType",
        "key",
        "value",
        "headers",
    }
    assert json.loads(base64.b64decode(r["value"])) in [{"i": i} for i in range(10)]
    assert r["headers"] == [{"h": [-56, 1]}]  # Java signed bytes
    assert committed(infra, s.group, topic) == {0: 5, 1: 5}


def test_reported_failures_are_redelivered_from_the_lowest_offset(
    infra: InfraSettings, topics: tuple[str, str]
) -> None:
    topic, dlq = topics
    produce(infra, topic, 6)
    calls: list[list[tuple[int, int]]] = []
    failed_at: list[int] = []

    def handler(event: dict[str, Any], _ctx: Any) -> dict[str, Any]:
        recs = [r for b in event["records"].values() for r in b]
        calls.append([(r["partition"], r["offset"]) for r in recs])
        if (0, 1) in calls[-1] and not failed_at:  # fail offset 1 of partition 0 once
            failed_at.append(len(calls) - 1)  # (the partitions may come in separate batches)
            return {
                "batchItemFailures": [{"itemIdentifier": {"partition": f"{topic}-0", "offset": 1}}]
            }
        return {"batchItemFailures": []}

    s = spec(topic, dlq)
    drain(Poller(s, infra.kafka_bootstrap, handler, sleep=lambda _s: None), 6)
    assert failed_at, calls
    retried = calls[failed_at[0] + 1]
    assert sorted(retried) == [(0, 1), (0, 2)]  # the failed record and what follows it
    assert committed(infra, s.group, topic) == {0: 3, 1: 3}


def test_exhausted_retries_go_to_the_destination_and_the_partition_moves_on(
    infra: InfraSettings, topics: tuple[str, str]
) -> None:
    topic, dlq = topics
    produce(infra, topic, 4)
    start = {0: 0}
    attempts = 0

    def handler(event: dict[str, Any], _ctx: Any) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("boom")

    s = spec(topic, dlq, retries=2, report=False)
    drain(Poller(s, infra.kafka_bootstrap, handler, sleep=lambda _s: None), 4)
    assert attempts >= 3
    dead = read_since(infra, dlq, start)
    assert sorted(m.key() for m in dead) == [b"k0", b"k1", b"k2", b"k3"]
    headers = dict(dead[0].headers())
    assert headers["dlq.condition"] == b"RetryAttemptsExhausted"
    assert b"RuntimeError: boom" in headers["dlq.reason"]
    assert headers["dlq.source"].startswith(topic.encode())
    assert committed(infra, s.group, topic) == {0: 2, 1: 2}


def test_a_malformed_response_fails_the_whole_batch(
    infra: InfraSettings, topics: tuple[str, str]
) -> None:
    topic, dlq = topics
    produce(infra, topic, 2)
    seen = 0

    def handler(event: dict[str, Any], _ctx: Any) -> dict[str, Any]:
        nonlocal seen
        seen += 1
        if seen == 1:
            return {"batchItemFailures": [{"itemIdentifier": {"partition": "nope", "offset": 9}}]}
        return {"batchItemFailures": []}

    s = spec(topic, dlq)
    drain(Poller(s, infra.kafka_bootstrap, handler, sleep=lambda _s: None), 2)
    assert seen >= 2
    assert committed(infra, s.group, topic) == {0: 1, 1: 1}


def test_the_process_function_has_its_retry_topic_as_a_mapping_of_its_own() -> None:
    specs = {s.event: s for s in mapping_specs("ProcessFunction")}
    assert set(specs) == {"PaymentRequested", "PaymentRetries"}
    retries = specs["PaymentRetries"]
    assert (retries.topic, retries.group) == ("payments.requested.retry", "paygate-process-retry")
    assert retries.report_item_failures and retries.on_failure_topic == "payments.requested.dlq"
    assert mapping_spec("ProcessFunction", event="PaymentRetries") == retries


def test_the_template_mapping_of_the_process_function() -> None:
    s = mapping_spec("ProcessFunction")
    assert s.topic == "payments.requested" and s.group == "paygate-process"
    assert s.report_item_failures and s.max_retries == 10
    assert s.on_failure_topic == "payments.requested.dlq"
    assert s.starting_position == "TRIM_HORIZON"
