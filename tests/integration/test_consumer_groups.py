"""Readiness of the event source mappings on the real Kafka: a group is ready once stable with
every partition of its topic assigned."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer

from harness.consumer_groups import mappings, unassigned
from harness.infra.settings import InfraSettings


def test_every_kafka_event_of_the_template_is_a_mapping_to_wait_for() -> None:
    assert set(mappings()) == {
        ("paygate-process", "payments.requested"),
        ("paygate-process-retry", "payments.requested.retry"),
        ("paygate-notify", "payments.processed"),
    }


def test_a_group_is_ready_only_once_a_member_holds_every_partition(infra: InfraSettings) -> None:
    group = f"test-ready-{uuid.uuid4().hex[:8]}"
    wanted = [(group, "payments.requested")]
    (why,) = unassigned(infra.kafka_bootstrap, wanted)
    assert why.startswith(group) and "0/6 partitions" in why
    consumer = Consumer({"bootstrap.servers": infra.kafka_bootstrap, "group.id": group})
    consumer.subscribe(["payments.requested"])
    try:
        deadline = time.monotonic() + 30
        while unassigned(infra.kafka_bootstrap, wanted):
            assert time.monotonic() < deadline, "the only member never got the partitions"
            consumer.poll(0.5)
    finally:
        consumer.close()
