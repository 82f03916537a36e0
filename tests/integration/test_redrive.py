"""The redrive function's adapter and service on real Kafka: dead letters written the way the
event source emulation writes them go back to their source topic byte for byte, once; poison
stays; the position survives a new consumer (a cold start)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

import pytest
from confluent_kafka import Consumer, TopicPartition

from common.adapters.kafka_dead_letters import KafkaDeadLetterQueue
from common.adapters.kafka_event_publisher import KafkaEventPublisher
from common.dead_letters import POISON, RETRIES_EXHAUSTED, dead_letter
from common.lambda_kafka import KafkaRecord, encode_record
from functions.redrive.service import RedrivePolicy, RedriveService
from harness.infra.settings import InfraSettings


@pytest.fixture
def topics(new_topics: Callable[[Mapping[str, int]], None]) -> tuple[str, str]:
    name = f"test.redrive.{uuid.uuid4().hex[:8]}"
    dlq = f"{name}.dlq"
    new_topics({name: 1, dlq: 1})
    return name, dlq


def record(topic: str, offset: int, key: bytes, value: bytes) -> KafkaRecord:
    return KafkaRecord.model_validate(
        encode_record(
            topic=topic,
            partition=0,
            offset=offset,
            timestamp_ms=0,
            key=key,
            value=value,
            headers=[("eventType", b"PaymentRequested"), ("raw", bytes([0, 200, 255]))],
        )
    )


def read_all(infra: InfraSettings, topic: str) -> list[tuple[bytes, bytes, dict[str, bytes]]]:
    c = Consumer(
        {"bootstrap.servers": infra.kafka_bootstrap, "group.id": f"t-{uuid.uuid4().hex[:6]}"}
    )
    c.assign([TopicPartition(topic, 0, 0)])
    out = []
    for m in c.consume(100, timeout=5):
        if m.error() is None:
            out.append((m.key(), m.value(), dict(m.headers() or [])))
    c.close()
    return out


def test_exhausted_letters_go_back_once_and_poison_stays(
    infra: InfraSettings, topics: tuple[str, str]
) -> None:
    source, dlq = topics
    publisher = KafkaEventPublisher(infra.kafka_bootstrap)
    for i, condition in enumerate([RETRIES_EXHAUSTED, POISON, RETRIES_EXHAUSTED]):
        dead_letter(
            publisher,
            dlq,
            record(source, 40 + i, f"tx-{i}".encode(), f'{{"n":{i}}}'.encode()),
            reason="TransientError: mongodb (after 10 attempts)",
            condition=condition,
            function="ProcessFunction",
        )
    group = f"test-redrive-{uuid.uuid4().hex[:6]}"

    def run() -> dict[str, object]:
        queue = KafkaDeadLetterQueue(infra.kafka_bootstrap, [dlq], group_id=group)
        try:
            service = RedriveService(
                queue=queue,
                publisher=publisher,
                answers={"mongodb": lambda: True},
                policy=RedrivePolicy(frozenset({source})),
            )
            return service.run(100).summary()
        finally:
            queue.close()

    assert run() == {"deferred": [], "redriven": 2, "poison": 1, "held": 0, "unsent": 0}
    back = read_all(infra, source)
    assert [(k, v) for k, v, _h in back] == [(b"tx-0", b'{"n":0}'), (b"tx-2", b'{"n":2}')]
    assert back[0][2]["raw"] == bytes([0, 200, 255])
    assert back[0][2]["redrive.count"] == b"1"
    assert back[0][2]["redrive.from"] == f"{dlq}/0/0".encode()
    assert not any(h.startswith("dlq.") for h in back[0][2])
    assert run()["redriven"] == 0  # a new consumer, the same group: nothing twice
    browse = KafkaDeadLetterQueue(infra.kafka_bootstrap, [dlq], group_id=group)
    try:
        letters = browse.browse()
        assert [d.condition for d in letters] == [RETRIES_EXHAUSTED, POISON, RETRIES_EXHAUSTED]
        assert letters[1].reason.startswith("TransientError") and letters[1].source_topic == source
        assert browse.committed() == {(dlq, 0): 3}
    finally:
        browse.close()
    publisher.close()
