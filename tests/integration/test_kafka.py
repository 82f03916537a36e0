"""Real Kafka: idempotent acks=all producing, group consumption, commits, project topics."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from harness.infra.settings import InfraSettings
from harness.template import project_template


def producer(infra: InfraSettings) -> Producer:
    return Producer(
        {"bootstrap.servers": infra.kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
    )


def consumer(infra: InfraSettings, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": infra.kafka_bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )


def consume(c: Consumer, want: int, timeout: float = 30.0) -> list[tuple[int, int, bytes, bytes]]:
    got: list[tuple[int, int, bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        for msg in c.consume(num_messages=500, timeout=0.5):
            assert msg.error() is None, msg.error()
            got.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
    return got


def test_every_acknowledged_message_is_consumed_in_key_order(
    infra: InfraSettings, scratch_topic: str
) -> None:
    p = producer(infra)
    acked: list[tuple[bytes, bytes]] = []

    def on_delivery(err: KafkaError | None, msg: object) -> None:
        assert err is None, err
        acked.append((msg.key(), msg.value()))  # type: ignore[attr-defined]

    for i in range(300):
        p.produce(scratch_topic, key=f"k{i % 7}", value=f"{i}", on_delivery=on_delivery)
    assert p.flush(30) == 0
    assert len(acked) == 300

    c = consumer(infra, f"g-{uuid.uuid4().hex[:8]}")
    c.subscribe([scratch_topic])
    got = consume(c, 300)
    c.close()
    assert len(got) == 300
    by_key: dict[bytes, list[int]] = defaultdict(list)
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for partition, _offset, key, value in got:
        by_key[key].append(int(value))
        partitions_of_key[key].add(partition)
    assert all(values == sorted(values) for values in by_key.values())
    assert all(len(parts) == 1 for parts in partitions_of_key.values())
    assert len({partition for partition, *_ in got}) > 1


def test_committed_offsets_resume_a_group_where_it_stopped(
    infra: InfraSettings, scratch_topic: str
) -> None:
    p = producer(infra)
    for i in range(10):
        p.produce(scratch_topic, key="same", value=str(i))
    assert p.flush(30) == 0
    group = f"g-{uuid.uuid4().hex[:8]}"

    first = consumer(infra, group)
    first.subscribe([scratch_topic])
    got = consume(first, 10)
    partition, last_offset = got[5][0], got[5][1]
    first.commit(
        offsets=[TopicPartition(scratch_topic, partition, last_offset + 1)], asynchronous=False
    )
    first.close()

    second = consumer(infra, group)
    second.subscribe([scratch_topic])
    rest = consume(second, 4)
    second.close()
    assert [int(v) for *_, v in rest] == [6, 7, 8, 9]


def test_project_topics_exist_with_their_configured_partitions(kafka_admin: AdminClient) -> None:
    existing = kafka_admin.list_topics(timeout=10).topics
    for topic in project_template().kafka_topics():
        assert topic.name in existing, topic.name
        assert len(existing[topic.name].partitions) == topic.partitions


def test_topics_are_not_auto_created(infra: InfraSettings, kafka_admin: AdminClient) -> None:
    name = f"test.never-created.{uuid.uuid4().hex[:8]}"
    p = Producer({"bootstrap.servers": infra.kafka_bootstrap, "message.timeout.ms": 3000})
    errors: list[KafkaError] = []
    p.produce(name, value=b"x", on_delivery=lambda err, _msg: errors.append(err))
    p.flush(10)
    assert errors and errors[0] is not None
    assert name not in kafka_admin.list_topics(timeout=10).topics
